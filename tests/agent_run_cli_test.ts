// `clawpatrol run` end to end, as real subprocesses against an init'ed directory: running a
// command in the agent's environment.
import { deepEqual, equal, match } from "node:assert/strict";
import { cli, initDir, withTempDir } from "./_helpers.ts";
import { addAgent, lines, proxyOn8080 } from "./_agent_cli_fixture.ts";

Deno.test("run passes the child's exit code through, and 128+N for a signal", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const token = await addAgent(dir, "a");
    const env = { CLAWPATROL_AGENT_TOKEN: token };
    const seven = await cli(["run", "--agent", "a", "--", "sh", "-c", "exit 7"], { cwd: dir, env });
    equal(seven.code, 7, seven.stderr);
    const zero = await cli(["run", "--agent", "a", "--", "true"], { cwd: dir, env });
    equal(zero.code, 0, zero.stderr);
    const killed = await cli(["run", "--agent", "a", "--", "sh", "-c", "kill -TERM $$"], {
      cwd: dir,
      env,
    });
    equal(killed.code, 128 + 15);
  });
});

Deno.test("run gives the child the agent's environment but not CLAWPATROL_AGENT_TOKEN", async () => {
  await withTempDir(async (dir) => {
    await proxyOn8080(await initDir(dir));
    const token = await addAgent(dir, "a");
    const script = 'printf "%s|%s|%s|%s\\n" "$HTTPS_PROXY" "${CLAWPATROL_AGENT_TOKEN-unset}" ' +
      '"$CLAWPATROL_AGENT" "$KEEP_ME"';
    const r = await cli(["run", "--agent", "a", "--", "sh", "-c", script], {
      cwd: dir,
      env: { CLAWPATROL_AGENT_TOKEN: token, KEEP_ME: "inherited" },
    });
    equal(r.code, 0, r.stderr);
    equal(r.stdout, `http://a:${token}@127.0.0.1:8080|unset|a|inherited\n`);
    const viaFlag = await cli(
      ["run", "--agent", "a", "--token", token, "--", "sh", "-c", 'echo "$SSL_CERT_FILE"'],
      { cwd: dir },
    );
    equal(viaFlag.code, 0, viaFlag.stderr);
    match(viaFlag.stdout, /\/state\/ca-bundle\.pem\n$/);
  });
});

Deno.test("run hands everything after -- to the child untouched, --help and -c included", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const token = await addAgent(dir, "a");
    const r = await cli(
      [
        "run",
        "--agent",
        "a",
        "--",
        "sh",
        "-c",
        'printf "[%s]" "$@"',
        "sh",
        "--help",
        "-c",
        "x",
        "--",
      ],
      { cwd: dir, env: { CLAWPATROL_AGENT_TOKEN: token } },
    );
    equal(r.code, 0, r.stderr);
    equal(r.stdout, "[--help][-c][x][--]");
  });
});

Deno.test("run exits 127 for a command that does not exist, 2 without a command or token", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const token = await addAgent(dir, "a");
    const env = { CLAWPATROL_AGENT_TOKEN: token };
    const missing = await cli(["run", "--agent", "a", "--", "no-such-command-xyz", "--help"], {
      cwd: dir,
      env,
    });
    equal(missing.code, 127);
    deepEqual(lines(missing.stderr), ["Error: Command not found: 'no-such-command-xyz'"]);
    const noCommand = await cli(["run", "--agent", "a", "--"], { cwd: dir, env });
    equal(noCommand.code, 2);
    match(noCommand.stderr, /run needs the command after '--'/);
    const noSeparator = await cli(["run", "--agent", "a", "true"], { cwd: dir, env });
    equal(noSeparator.code, 2);
    // stdin is not a terminal and belongs to the child: never read as the token.
    const noToken = await cli(["run", "--agent", "a", "--", "true"], { cwd: dir });
    equal(noToken.code, 2);
    match(noToken.stderr, /no token for agent 'a': pass --token or set CLAWPATROL_AGENT_TOKEN/);
    const wrong = await cli(["run", "--agent", "a", "--token", "cpat_nope", "--", "true"], {
      cwd: dir,
    });
    equal(wrong.code, 1);
    deepEqual(lines(wrong.stderr), ["Error: Token does not match agent 'a'"]);
  });
});

Deno.test("--help before -- still prints the usage, which lists agent, env and run", async () => {
  const r = await cli(["run", "--help"]);
  equal(r.code, 0);
  match(r.stdout, /agent add NAME --profile PROFILE/);
  match(r.stdout, /env --agent NAME/);
  match(r.stdout, /run --agent NAME \[--token T\] -- COMMAND/);
});

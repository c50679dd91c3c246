/**
 * Startup parameters beyond user and database set server settings before the first statement:
 * `options=-c role=admin` or a bare `search_path=evil` would change who or what the session
 * runs as without any SQL. Each such setting becomes the `SET` statement it amounts to and is
 * decided like SQL; only parameters that shape how results are encoded pass undecided.
 *
 * @module
 */

/** Parameters that only change encodings and labels, passed through without a decision. */
const COSMETIC = new Set([
  "application_name",
  "client_encoding",
  "datestyle",
  "timezone",
  "extra_float_digits",
  "intervalstyle",
  "bytea_output",
  "fallback_application_name",
]);

const SETTING_NAME = /^[a-z_][a-z0-9_$]*(\.[a-z_][a-z0-9_$]*)?$/i;

/**
 * The gateway decodes SQL as UTF-8. Under another client encoding the server would read the same
 * bytes differently (multibyte characters that swallow a quote or backslash), so the rules would
 * judge a different statement than the one that runs.
 */
export function isUtf8Encoding(value: string): boolean {
  return /^\s*'?(utf-?8|unicode)'?\s*$/i.test(value);
}

/** Why a client_encoding setting is refused, or `null` when it is UTF-8. */
function encodingRefusal(name: string, value: string): string | null {
  return name.toLowerCase() === "client_encoding" && !isUtf8Encoding(value)
    ? `client_encoding '${value}' is not supported through clawpatrol: use UTF8`
    : null;
}

/** How the startup parameters split. */
export interface StartupSettings {
  /** `SET` statements to decide, one per setting, in the agent's order. */
  statements: string[];
  /** Why the startup is refused outright (an option that is not a setting), if it is. */
  refusal: string | null;
}

/**
 * Reads the settings out of startup parameters (other than user/database/replication).
 *
 * @example
 * ```ts
 * startupSettings([["application_name", "psql"], ["options", "-c role=admin"]]).statements;
 * // ["SET role TO 'admin'"]
 * ```
 */
export function startupSettings(params: [string, string][]): StartupSettings {
  const statements: string[] = [];
  for (const [key, value] of params) {
    if (key.startsWith("_pq_.")) continue; // Protocol extensions: answered as unsupported.
    if (key === "options") {
      const parsed = parseOptions(value);
      if (typeof parsed === "string") return { statements, refusal: parsed };
      for (const [name, v] of parsed) {
        const encoding = encodingRefusal(name, v);
        if (encoding) return { statements, refusal: encoding };
        const statement = setStatement(name, v);
        if (!statement) return { statements, refusal: `'${name}' is not a setting name` };
        statements.push(statement);
      }
      continue;
    }
    const encoding = encodingRefusal(key, value);
    if (encoding) return { statements, refusal: encoding };
    if (COSMETIC.has(key.toLowerCase())) continue;
    const statement = setStatement(key, value);
    if (!statement) return { statements, refusal: `startup parameter '${key}' is not a setting` };
    statements.push(statement);
  }
  return { statements, refusal: null };
}

function setStatement(name: string, value: string): string | null {
  if (!SETTING_NAME.test(name)) return null;
  return `SET ${name} TO '${value.replaceAll("'", "''")}'`;
}

/**
 * Splits `options` the way the server does (whitespace-separated, backslash escapes) and keeps
 * only settings: `-c name=value`, `-cname=value` and `--name=value`. Other backend switches are
 * refused: they are not needed by clients and some change server behaviour.
 */
export function parseOptions(options: string): [string, string][] | string {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  for (let i = 0; i < options.length; i++) {
    const c = options[i];
    if (c === "\\" && i + 1 < options.length) {
      word += options[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  const out: [string, string][] = [];
  for (let i = 0; i < words.length; i++) {
    let setting: string;
    if (words[i] === "-c") {
      if (i + 1 >= words.length) return "'-c' in options needs name=value";
      setting = words[++i];
    } else if (words[i].startsWith("-c")) setting = words[i].slice(2);
    else if (words[i].startsWith("--")) setting = words[i].slice(2);
    else return `option '${words[i]}' is not allowed: only -c name=value settings`;
    const eq = setting.indexOf("=");
    if (eq <= 0) return `option '${setting}' needs name=value`;
    // The server treats '-' in a setting name as '_'.
    out.push([setting.slice(0, eq).replaceAll("-", "_"), setting.slice(eq + 1)]);
  }
  return out;
}

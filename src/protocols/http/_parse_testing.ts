/**
 * The assertion the HTTP codec tests share: a parse fails with a given status.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import { HttpParseError } from "./_head.ts";

/** Asserts an HttpParseError with `status`, and when given, a message naming the broken rule. */
export function assertStatus(
  fn: () => unknown,
  status: number,
  label: string,
  message?: RegExp,
): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof HttpParseError)) throw e;
    equal(e.status, status, `${label}: ${e.message}`);
    if (message) ok(message.test(e.message), `${label}: '${e.message}' does not match ${message}`);
    return;
  }
  throw new Error(`Expected HttpParseError ${status}: ${label}`);
}

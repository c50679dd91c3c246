/**
 * The error of AWS signature checking and re-signing.
 *
 * @module
 */

/** Why a request cannot be re-signed; the message is agent-facing and never holds a secret. */
export class AwsSignatureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AwsSignatureError";
  }
}

/**
 * Credentials: the encrypted vault, HTTP placeholder injection, response scrubbing and redaction.
 *
 * @module
 */

export { REDACTED, redactFacts } from "./redact.ts";
export {
  DEFAULT_SLOT,
  MAX_VALUE_BYTES,
  type UnlockKind,
  Vault,
  VAULT_FILE,
  type VaultEntry,
  VaultError,
  type VaultErrorOptions,
} from "./vault.ts";
export { openVault, type OpenVaultOptions, PENDING_KEY_SUFFIX } from "./_open.ts";
export {
  type AdoptOptions,
  adoptSharedRoot,
  readSealedVault,
  type SealedEntry,
  type SealedVault,
  VaultKeyMismatchError,
  writeSealedEntries,
} from "./sealed.ts";
export {
  checkPrivate,
  encodeMasterKey,
  generateMasterKey,
  type KeySource,
  MASTER_KEY_ENV,
  MASTER_KEY_FILE,
  parseMasterKey,
  readKeyFile,
  writeKeyFile,
  type WriteKeyFileOptions,
} from "./_keys.ts";
export {
  HttpInjector,
  type HttpRequestParts,
  type InjectableCredential,
  type InjectionPlan,
  type SubstituteLocation,
} from "./http_inject.ts";
export { Scrubber, scrubForms } from "./scrub.ts";
export {
  assumeRoleRequest,
  type AwsKeys,
  AwsSignatureError,
  eksToken,
  parseAuthorization,
  type ResignOptions,
  resignRequest,
  type SignedRequest,
  type SigV4Authorization,
} from "./aws_sigv4.ts";
export {
  parseServiceAccountKey,
  refreshTokenGrant,
  serviceAccountGrant,
  type ServiceAccountKey,
  type TokenRequest,
} from "./oauth_grants.ts";

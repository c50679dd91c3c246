/** The HTTPS forward proxy holds the protocol contract (tests/_contract/contract.ts). */

import { protocolContract } from "./_contract/contract.ts";
import { httpsDriver } from "./_contract/https_driver.ts";

protocolContract("https", httpsDriver);

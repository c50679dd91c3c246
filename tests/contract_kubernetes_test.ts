/** The Kubernetes listener holds the protocol contract (tests/_contract/contract.ts). */

import { protocolContract } from "./_contract/contract.ts";
import { kubernetesDriver } from "./_contract/kubernetes_driver.ts";

protocolContract("kubernetes", kubernetesDriver);

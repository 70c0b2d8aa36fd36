// How `vigil-sensor run --nats URL` joins a cluster: probe the kernel, derive and announce the NodeProfile, and run
// the BundleAgent with the production applier. Until the enforcement engine (#7) provides a real BundleApplier,
// that applier is RefusingApplier: every bundle is acked `refused` with NO_ENGINE_REASON, so policy status shows
// the node failing instead of pretending to enforce.
import type { Logger } from 'pino';
import { probeKernel } from '../probe/probe.js';
import { RefusingApplier, type BundleApplier } from './applier.js';
import { BundleAgent } from './bundle-agent.js';
import { nodeProfileFromCapabilities } from './node-profile.js';

export const DEFAULT_STATE_DIR = '/var/lib/vigil/sensor';

export interface TransportOptions {
  natsUrl: string;
  nodeName: string;
  objectsDir: string;
  stateDir: string;
  logger: Logger;
  /** Defaults to RefusingApplier (see above). */
  applier?: BundleApplier;
}

export async function startTransport(o: TransportOptions): Promise<BundleAgent> {
  const caps = probeKernel({ probeObject: `${o.objectsDir}/probe.bpf.o` });
  return BundleAgent.start({
    servers: o.natsUrl.split(','),
    node: o.nodeName,
    profile: nodeProfileFromCapabilities(caps),
    capabilities: caps,
    applier: o.applier ?? new RefusingApplier(),
    stateDir: o.stateDir,
    logger: o.logger,
  });
}

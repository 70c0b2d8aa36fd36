// client-node 2.x informers with what controllers need on top: a restart with backoff when the watch fails with
// anything but 410 (client-node re-lists on 410 Gone by itself), a periodic resync that replays every cached
// object to the handler, and a `synced` promise for the first list.
import { makeInformer, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';

export interface WatchedOptions<T extends KubernetesObject> {
  kc: KubeConfig;
  /** API path, e.g. /apis/vigil.dev/v1alpha1/tracingpolicies */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  /** Called for add/update/delete and on every resync, with the object (last known state for deletes). */
  onChange: (obj: T, deleted: boolean) => void;
  log: Logger;
  /** Replay the cache every resyncMs (default 5 min; 0 disables). */
  resyncMs?: number;
}

export interface Watched<T extends KubernetesObject> {
  list(): readonly T[];
  get(name: string, namespace?: string): T | undefined;
  synced: Promise<void>;
  stop(): Promise<void>;
}

export function startWatched<T extends KubernetesObject>(o: WatchedOptions<T>): Watched<T> {
  const inf = makeInformer<T>(o.kc, o.path, o.list);
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  let delay = 100;
  let markSynced: () => void = () => undefined;
  const synced = new Promise<void>((resolve) => (markSynced = resolve));
  inf.on('add', (obj) => o.onChange(obj, false));
  inf.on('update', (obj) => o.onChange(obj, false));
  inf.on('delete', (obj) => o.onChange(obj, true));
  inf.on('connect', () => {
    delay = 100;
  });
  inf.on('error', (err: unknown) => {
    if (stopped) return;
    o.log.warn({ err, path: o.path, retryInMs: delay }, 'watch failed; restarting the informer');
    retry = setTimeout(() => {
      retry = undefined;
      if (!stopped) void inf.start().then(markSynced, () => undefined);
    }, delay);
    delay = Math.min(delay * 2, 30_000);
  });
  void inf.start().then(markSynced, () => undefined);
  const resyncMs = o.resyncMs ?? 300_000;
  const resync = resyncMs > 0 ? setInterval(() => inf.list().forEach((obj) => o.onChange(obj, false)), resyncMs) : undefined;
  return {
    list: () => inf.list(),
    get: (name, namespace) => inf.get(name, namespace),
    synced,
    async stop() {
      stopped = true;
      if (retry) clearTimeout(retry);
      if (resync) clearInterval(resync);
      await inf.stop();
    },
  };
}

// Reading a KV bucket's current values: a LastValue watch stopped once it has delivered the initial state.
import type { KvEntry, QueuedIterator, RoKV } from 'nats';

/** Current entries of `kv` matching `filter` (a KV key pattern), DEL/PURGE markers included unless ignoreDeletes. */
export async function readKv(kv: RoKV, filter = '>', ignoreDeletes = false): Promise<KvEntry[]> {
  let initialized = false;
  const holder: { w?: QueuedIterator<KvEntry> } = {};
  // Deletes are filtered here, not by the watch: nats.js drops an ignored DEL before it checks whether that entry
  // completed the initial state, so a filter whose last entry is a DEL never initialized and readKv hung.
  const w = await kv.watch({
    key: filter,
    initializedFn: () => {
      initialized = true;
      holder.w?.stop();
    },
  });
  holder.w = w;
  if (initialized) w.stop();
  const out: KvEntry[] = [];
  for await (const e of w) if (!ignoreDeletes || e.operation === 'PUT') out.push(e);
  return out;
}

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect, StringCodec, type NatsConnection } from 'nats';
import { startNatsServer, type NatsServer } from '@vigil/testing';
import { readKv } from './kv-read.js';

const sc = StringCodec();

describe('readKv on a real nats-server', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await nc.close();
    await server.stop();
  });

  it('returns when the last entry of the filter is a delete, with or without delete markers', async () => {
    const kv = await nc.jetstream().views.kv('read-test');
    await kv.put('ack.n1.a', sc.encode('1'));
    await kv.put('ack.n1.b', sc.encode('2'));
    await kv.delete('ack.n1.b'); // the newest entry under ack.n1.> is a DEL marker
    await kv.put('ack.n2.a', sc.encode('3'));
    await kv.delete('ack.n3.a'); // only a DEL marker under ack.n3.>
    const keysOf = async (filter: string, ignoreDeletes: boolean): Promise<string[]> => (await readKv(kv, filter, ignoreDeletes)).map((e) => `${e.key}:${e.operation}`);
    expect(await keysOf('ack.n1.>', true)).toEqual(['ack.n1.a:PUT']);
    expect(await keysOf('ack.n1.>', false)).toEqual(['ack.n1.a:PUT', 'ack.n1.b:DEL']);
    expect(await keysOf('ack.n3.>', true)).toEqual([]);
    expect(await keysOf('ack.n4.>', true)).toEqual([]);
    expect(await keysOf('>', true)).toEqual(['ack.n1.a:PUT', 'ack.n2.a:PUT']);
  });
});

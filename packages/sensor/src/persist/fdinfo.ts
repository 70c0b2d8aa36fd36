/**
 * What a pinned bpffs file is, without extra native bindings: bpf_obj_get() an fd for it and read the kernel's
 * /proc/self/fdinfo/<fd> (map_type, key_size, value_size, max_entries, map_flags, map_id for maps; prog_type,
 * prog_id for programs; link_type, link_id, prog_id for links).
 */
import { readFileSync } from 'node:fs';
import { closeFd, objGet } from '../libbpf/index.js';

export type PinKind = 'map' | 'prog' | 'link' | 'unknown';

export interface PinInfo {
  kind: PinKind;
  /** map_id, prog_id or link_id */
  id: number;
  /** for links: the attached program's id */
  progId?: number;
  mapType?: number;
  keySize?: number;
  valueSize?: number;
  maxEntries?: number;
  mapFlags?: number;
  linkType?: number;
  progType?: number;
  /** the raw key/value pairs of fdinfo */
  fields: Record<string, string>;
}

export function parseFdinfo(text: string): PinInfo {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) fields[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  const num = (k: string) => (fields[k] === undefined ? undefined : Number.parseInt(fields[k], fields[k].startsWith('0x') ? 16 : 10));
  if (fields.link_type !== undefined) {
    return { kind: 'link', id: num('link_id') ?? 0, progId: num('prog_id'), linkType: num('link_type') ?? (Number.isNaN(Number(fields.link_type)) ? undefined : Number(fields.link_type)), fields };
  }
  if (fields.map_type !== undefined) {
    return { kind: 'map', id: num('map_id') ?? 0, mapType: num('map_type'), keySize: num('key_size'), valueSize: num('value_size'), maxEntries: num('max_entries'), mapFlags: num('map_flags'), fields };
  }
  if (fields.prog_type !== undefined) return { kind: 'prog', id: num('prog_id') ?? 0, progType: num('prog_type'), fields };
  return { kind: 'unknown', id: 0, fields };
}

/** Opens the pin and describes it; throws LibbpfError PIN_FAILED when the path is not a BPF object. */
export function pinInfo(path: string): PinInfo {
  const fd = objGet(path);
  try {
    return parseFdinfo(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  } finally {
    closeFd(fd);
  }
}

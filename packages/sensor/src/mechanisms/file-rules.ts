/**
 * File deny sets as map contents (pure), for vg_exec_deny (exec_kill.bpf.c) and the open-kill map. Byte grammar:
 *
 *   key   = u64 ino · u32 dev (kernel dev_t, MKDEV) · u32 0
 *   value = u32 rule_id · u32 flags (0)
 */
import { ENF_OFF, ENF_SIZE } from '../abi/enforce-layout.js';
import { EnforceError } from './errors.js';
import { fileIdOf, type FileId } from './file-id.js';

/** A file to deny, by path (resolved now, following symlinks) or by its kernel identity. */
export type FileDenyRule = { id: number; path: string } | ({ id: number } & FileId);

export interface FileEntry {
  key: Buffer;
  value: Buffer;
  file: FileId;
}

export function fileKey(f: FileId): Buffer {
  const key = Buffer.alloc(ENF_SIZE.fileKey);
  key.writeBigUInt64LE(f.ino, ENF_OFF.fileKey.ino);
  key.writeUInt32LE(f.dev, ENF_OFF.fileKey.dev);
  return key;
}

/** Resolves paths and encodes each rule; the first rule naming a file wins. Throws BAD_RULE for a missing path. */
export function compileFileDenySet(rules: readonly FileDenyRule[]): FileEntry[] {
  const out = new Map<string, FileEntry>();
  for (const r of rules) {
    let file: FileId;
    if ('path' in r) {
      try {
        file = fileIdOf(r.path);
      } catch (err) {
        throw new EnforceError('BAD_RULE', `rule ${r.id}: cannot stat ${r.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    } else {
      file = { ino: r.ino, dev: r.dev };
    }
    const key = fileKey(file);
    const k = key.toString('hex');
    if (out.has(k)) continue;
    const value = Buffer.alloc(ENF_SIZE.fileRule);
    value.writeUInt32LE(r.id, ENF_OFF.fileRule.rule_id);
    out.set(k, { key, value, file });
  }
  return [...out.values()];
}

/**
 * File deny sets as map contents (pure but for resolving paths), for vg_exec_deny (exec_kill.bpf.c) and
 * vg_open_deny (open_kill.bpf.c). Byte grammar:
 *
 *   key   = u64 ino · u32 dev (kernel dev_t, MKDEV) · u32 0
 *   value = vg_file_rule (scope.ts): u32 rule_id · u32 flags · u32 identity_set_id · u32 binary_set_id
 *
 * One value per file: rules naming the same file merge when one of them is unscoped and enforcing (it covers the
 * others) or when their scopes are equal (the first rule's id is reported); otherwise BAD_RULE names both rules.
 */
import { ENF_OFF, ENF_SIZE } from '../abi/enforce-layout.js';
import { EnforceError } from './errors.js';
import { fileIdOf, type FileId } from './file-id.js';
import { BinarySets, fileRuleValue, isBroadest, sameScope, type RuleScope } from './scope.js';

/** A file to deny, by path (resolved now, following symlinks) or by its kernel identity, with its scope. */
export type FileDenyRule = ({ id: number; path: string } | ({ id: number } & FileId)) & RuleScope;

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

/** Resolves paths and encodes each rule (see the merge rule above). Throws BAD_RULE for a missing path. */
export function compileFileDenySet(rules: readonly FileDenyRule[], bins: BinarySets = new BinarySets()): FileEntry[] {
  const out = new Map<string, FileEntry & { rule: FileDenyRule }>();
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
    const value = fileRuleValue(r.id, r, bins);
    const prev = out.get(k);
    if (prev) {
      if (isBroadest(prev.rule) || sameScope(prev.rule, r)) continue;
      if (!isBroadest(r)) {
        throw new EnforceError('BAD_RULE', `rules ${prev.rule.id} and ${r.id} name the same file (inode ${file.ino}) with different scopes (mode, pods or binaries); a deny map holds one rule per file`);
      }
    }
    out.set(k, { key, value, file, rule: r });
  }
  return [...out.values()].map(({ key, value, file }) => ({ key, value, file }));
}

/**
 * What narrows a deny rule beyond its match (pure encoding, shared by the file, socket, unix-path, io_uring and
 * connect rules): monitor mode, the identity set of the pods/containers it applies to (bpf/lib/identity.h) and
 * matchBinaries by executable identity. Byte grammar (bpf/include/abi/enforce.h):
 *
 *   vg_file_rule = u32 rule_id · u32 flags (1 monitor, 2 host processes too) · u32 identity_set_id · u32 binary_set_id
 *   vg_net_match = … · u8 flags (4 monitor, 8 host processes too) · … · u32 identity_set_id · u32 binary_set_id
 *   vg_bin_set key = u64 ino · u32 dev (kernel dev_t) · u32 set_id, value u8 1
 *
 * Binary set ids are given by content (the same list of executables gets the same id) in order of first use,
 * starting at 1; 0 means every executable. The executable is the caller's mm->exe_file: for a `#!` script, its
 * interpreter.
 */
import { ENF_OFF, ENF_SIZE } from '../abi/enforce-layout.js';
import { EnforceError } from './errors.js';
import { fileIdOf, type FileId } from './file-id.js';

export interface RuleScope {
  /** monitor mode (policy-mode: monitor): the decision is recorded and counted, nothing is denied or killed */
  monitor?: boolean;
  /** only tasks in this identity set (a pod/container selector's set id, filled by the sensor); 0/absent: every task */
  identitySetId?: number;
  /** with identitySetId: host processes (in no pod) match too (hostSelector) */
  hostIncluded?: boolean;
  /** matchBinaries In: only callers whose executable is one of these files (paths resolved now, by inode and device) */
  binaries?: readonly string[];
}

/** Builds the vg_bin_set entries of one deny set. */
export class BinarySets {
  private readonly ids = new Map<string, number>();
  private readonly keys = new Map<string, Buffer>();

  /** The set id of `paths` (0 for none), resolving each path; BAD_RULE names the rule and the missing file. */
  idOf(ruleId: number, paths: readonly string[] | undefined): number {
    if (!paths || paths.length === 0) return 0;
    const files: FileId[] = paths.map((p) => {
      try {
        return fileIdOf(p);
      } catch (err) {
        throw new EnforceError('BAD_RULE', `rule ${ruleId}: matchBinaries ${p}: cannot stat it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      }
    });
    const content = [...new Set(files.map((f) => `${f.dev}:${f.ino}`))].sort().join(',');
    let id = this.ids.get(content);
    if (id === undefined) {
      id = this.ids.size + 1;
      this.ids.set(content, id);
      for (const f of files) {
        const key = Buffer.alloc(ENF_SIZE.binKey);
        key.writeBigUInt64LE(f.ino, ENF_OFF.binKey.ino);
        key.writeUInt32LE(f.dev, ENF_OFF.binKey.dev);
        key.writeUInt32LE(id, ENF_OFF.binKey.set_id);
        this.keys.set(key.toString('hex'), key);
      }
    }
    return id;
  }

  /** vg_bin_set keys (value: one byte 1). */
  entries(): Array<{ key: Buffer; value: Buffer }> {
    return [...this.keys.values()].map((key) => ({ key, value: Buffer.from([1]) }));
  }
}

export function checkScope(ruleId: number, s: RuleScope): void {
  const id = s.identitySetId ?? 0;
  if (!Number.isInteger(id) || id < 0 || id >= 0xffffffff) throw new EnforceError('BAD_RULE', `rule ${ruleId}: identitySetId must be a u32 below 0xffffffff (reserved for all pods)`);
  if (s.hostIncluded && !id) throw new EnforceError('BAD_RULE', `rule ${ruleId}: hostIncluded needs an identitySetId (without one the rule applies to every task already)`);
}

/** A vg_file_rule value (16 bytes). */
export function fileRuleValue(ruleId: number, s: RuleScope, bins: BinarySets): Buffer {
  if (!Number.isInteger(ruleId) || ruleId < 0 || ruleId > 0xffffffff) throw new EnforceError('BAD_RULE', `rule id ${ruleId} must be a u32`);
  checkScope(ruleId, s);
  const v = Buffer.alloc(ENF_SIZE.fileRule);
  v.writeUInt32LE(ruleId, ENF_OFF.fileRule.rule_id);
  v.writeUInt32LE((s.monitor ? 1 : 0) | (s.hostIncluded ? 2 : 0), ENF_OFF.fileRule.flags);
  v.writeUInt32LE(s.identitySetId ?? 0, ENF_OFF.fileRule.identity_set_id);
  v.writeUInt32LE(bins.idOf(ruleId, s.binaries), ENF_OFF.fileRule.binary_set_id);
  return v;
}

/** Whether two rules' scopes are the same (mode, identity, binaries). */
export function sameScope(a: RuleScope, b: RuleScope): boolean {
  const bins = (s: RuleScope) => [...(s.binaries ?? [])].sort().join('\0');
  return !!a.monitor === !!b.monitor && (a.identitySetId ?? 0) === (b.identitySetId ?? 0) && !!a.hostIncluded === !!b.hostIncluded && bins(a) === bins(b);
}

/** Whether `s` is unscoped and enforcing: it covers every narrower rule for the same key. */
export function isBroadest(s: RuleScope): boolean {
  return !s.monitor && !s.identitySetId && !(s.binaries && s.binaries.length);
}

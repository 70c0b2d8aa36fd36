// Every file `pnpm gen` writes, with its content. The staleness test compares these with the committed files.
import { POLICY_KINDS } from '../types.js';
import { POLICY_ENUMS_HEADER_PATH, renderPolicyEnumsHeader } from './c-header.js';
import { crdFileName, renderCrd } from './crd.js';
import { renderLimitsDoc, LIMITS_DOC_PATH } from './limits-doc.js';

export interface GeneratedFile {
  /** Path relative to the repository root. */
  path: string;
  content: string;
}

export function generatedFiles(): GeneratedFile[] {
  return [
    { path: POLICY_ENUMS_HEADER_PATH, content: renderPolicyEnumsHeader() },
    ...POLICY_KINDS.map((k) => ({ path: crdFileName(k), content: renderCrd(k) })),
    { path: LIMITS_DOC_PATH, content: renderLimitsDoc() },
  ];
}

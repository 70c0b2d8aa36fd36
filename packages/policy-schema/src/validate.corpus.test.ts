import { describe, expect, it } from '@jest/globals';
import { loadCorpus, sharedDir } from './corpus.js';
import { formatIssue } from './errors.js';
import { validatePolicyText } from './validate.js';

const loc = sharedDir();
if (!loc.exists) console.error(loc.message);

describe('Tetragon example corpus', () => {
  it('shared/ is present (required in CI)', () => {
    if (!loc.exists && process.env['CI'] === 'true') throw new Error(loc.message);
    if (!loc.exists) console.warn(`${loc.message} — corpus tests skipped locally`);
  });

  const corpus = loadCorpus();
  if (loc.exists) {
    it('has all 65 files', () => expect(corpus.length).toBe(65));
  }

  it.each(corpus.map((f) => [f.name, f.text] as const))('%s validates as written', (_name, text) => {
    const docs = validatePolicyText(text);
    expect(docs.length).toBeGreaterThan(0);
    const problems = docs.flatMap((d) => (d.result.ok ? [] : d.result.issues.map(formatIssue)));
    expect(problems).toEqual([]);
  });

  it.each(corpus.map((f) => [f.name, f.text] as const))('%s validates with apiVersion vigil.dev/v1alpha1', (_name, text) => {
    const docs = validatePolicyText(text.replace(/^apiVersion: cilium\.io\/v1alpha1$/m, 'apiVersion: vigil.dev/v1alpha1'));
    expect(docs.every((d) => d.result.ok)).toBe(true);
  });
});

// Version of the bundle byte grammar documented at the top of compiler.ts. Bump on any change to the meaning or
// layout of bundle bytes; the BPF objects are built against one grammar and the sensor reports it in its profile.
export const BUNDLE_GRAMMAR_VERSION = 1;
/** First bytes of every selector program: "VGSP" read as a little-endian u32. */
export const SELECTOR_PROGRAM_MAGIC = 0x50534756;
/** Bytes of one binary / string key payload in vg_strings and vg_prefix (values are zero-padded to this size). */
export const STRING_KEY_BYTES = 256;
/** Bytes of one vg_hooks value. */
export const HOOK_CONFIG_BYTES = 136;
/** Bytes of one argument descriptor inside a vg_hooks value. */
export const ARG_DESC_BYTES = 8;
/** Bytes of one action record inside a vg_actions value. */
export const ACTION_RECORD_BYTES = 32;
/** "no id" marker for u32 ids (action tables, strings). */
export const NO_ID = 0xffffffff;

export { LibbpfError, errnoName, type LibbpfErrorCode } from './errors.js';
export { BpfObject } from './object.js';
export { BpfProgram } from './program.js';
export { BpfMap, MapType, UpdateFlags } from './map.js';
export { BpfLink } from './link.js';
export { RingBufferReader, type RecordHandler } from './ringbuf.js';
export { MappedRingBuffer, type MappedRecordHandler, type RingView } from './ringbuf-mmap.js';
export { objGet, objPin, iterCreate, closeFd, possibleCpus, libbpfVersion } from './syscalls.js';
export { loadNative } from './native.js';

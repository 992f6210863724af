// The codec pieces the receive path uses, re-exported for the bench only.
export { decodeFrameBody, forEachInBatch } from '../src/codec.ts'
export { MSG_FRAME as MSG_FRAME_FOR_BENCH } from '../src/constants.ts'

import { parentPort, workerData } from 'node:worker_threads';
import { checkBatch, DataError, RbmError } from '@rbmjs/core';
import { openData } from './data.js';
import type { ReadReply, ReadRequest, WorkerData } from './read-ahead.js';

/** The worker thread of `readAheadSource`: reads, binarises and checks rows of the data it was given. */
const { spec, checks } = workerData as WorkerData;
const { source } = openData(spec);
const locate = source.locate?.bind(source);

parentPort!.on('message', async ({ id, indices, buffer }: ReadRequest) => {
  try {
    const out = new Float32Array(buffer, 0, indices.length * source.cols);
    await source.readRows(indices, out);
    if (checks) checkBatch(out, indices, source.cols, source.source, checks, locate);
    parentPort!.postMessage({ id } satisfies ReadReply);
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    parentPort!.postMessage({
      id,
      error: {
        data: e instanceof DataError,
        ...(e instanceof RbmError ? { code: e.code } : {}),
        message: e.message,
        ...(e instanceof DataError ? { where: { row: e.row, column: e.column, value: e.value } } : {}),
      },
    } satisfies ReadReply);
  }
});

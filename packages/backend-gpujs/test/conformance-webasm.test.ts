import { describeBackend } from '@rbmjs/conformance';
import { createGpujsBackend } from '../src/index.js';

describeBackend('gpujs:webasm', () => createGpujsBackend({ mode: 'webasm' }));

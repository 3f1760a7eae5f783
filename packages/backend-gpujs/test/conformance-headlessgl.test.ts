import { describeBackend } from '@rbmjs/conformance';
import { createGpujsBackend } from '../src/index.js';

describeBackend('gpujs:headlessgl', () => createGpujsBackend({ mode: 'headlessgl' }));

import { describeBackend } from '@rbmjs/conformance';
import { createTfjsBackend } from '../src/index.js';

// One engine per test file: tfjs has one global engine per process, and vitest runs each file in its own.
describeBackend('tfjs:cpu', () => createTfjsBackend({ engine: 'cpu' }));

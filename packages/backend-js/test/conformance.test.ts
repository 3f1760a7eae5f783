import { describeBackend } from '@rbmjs/conformance';
import { createJsBackend } from '../src/index.js';

describeBackend('js', () => createJsBackend());

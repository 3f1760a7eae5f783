// A third party running the published conformance kit against the published backend.
import { createJsBackend } from '@rbmjs/backend-js';
import { describeBackend } from '@rbmjs/conformance';

describeBackend('js', () => createJsBackend(), { required: true });

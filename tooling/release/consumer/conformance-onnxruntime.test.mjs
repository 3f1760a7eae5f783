// The published ONNX Runtime backend on onnxruntime-node (the CLI's optional dependency), through the
// published conformance kit: its compiled training steps included.
import { createOnnxruntimeBackend } from '@rbmjs/backend-onnxruntime';
import { describeBackend } from '@rbmjs/conformance';

describeBackend('onnxruntime:cpu', () => createOnnxruntimeBackend({ mode: 'cpu' }), { required: true });

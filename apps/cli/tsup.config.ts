import { packageConfig } from '../../tooling/tsup.js';

export default packageConfig(
  { index: 'src/index.ts', bin: 'src/bin.ts', 'data-worker': 'src/data-worker.ts' },
  { dts: { entry: { index: 'src/index.ts' } } },
);

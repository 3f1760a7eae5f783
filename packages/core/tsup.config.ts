import { packageConfig } from '../../tooling/tsup.js';

export default packageConfig({
  index: 'src/index.ts',
  'backend/index': 'src/backend/index.ts',
  'node/index': 'src/node/index.ts',
});

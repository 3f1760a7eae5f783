import { packageConfig } from '../../tooling/tsup.js';

export default packageConfig();

import { realPruneSuite } from './prune-suite.ts';

realPruneSuite('mistral');

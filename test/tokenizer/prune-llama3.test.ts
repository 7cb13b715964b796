import { realPruneSuite } from './prune-suite.ts';

realPruneSuite('llama3');

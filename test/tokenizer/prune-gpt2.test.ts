import { realPruneSuite } from './prune-suite.ts';

realPruneSuite('gpt2');

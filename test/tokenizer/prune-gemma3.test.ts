import { realPruneSuite } from './prune-suite.ts';

realPruneSuite('gemma3');

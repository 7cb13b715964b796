import { realPruneSuite } from './prune-suite.ts';

realPruneSuite('qwen3');

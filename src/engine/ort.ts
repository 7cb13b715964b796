/** onnxruntime-node, loaded after its telemetry is turned off (no-telemetry.ts). Every engine module imports it from here. */
import './no-telemetry.ts';
import ort from 'onnxruntime-node';

export default ort;

/**
 * Imported before onnxruntime-node (engine/ort.ts): onnxruntime 1.30's Linux build records a
 * telemetry event for every session it creates in an SQLite database under
 * ~/.cache/Microsoft/DeveloperTools/.onnxruntime (and tries to upload them over HTTPS), and leaves a
 * /tmp/mat-debug-<pid>.log behind each process. A prune creates hundreds of sessions (the
 * planner's candidate pass: 64 MB of database writes at the Qwen2.5-0.5B shape), and compact
 * writes nothing outside its output folder. The library reads ORT_DISABLE_TELEMETRY when it
 * starts; a user who sets it (to 0, say) keeps that choice.
 */
process.env.ORT_DISABLE_TELEMETRY ??= '1';

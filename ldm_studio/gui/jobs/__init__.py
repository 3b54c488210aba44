"""The job machinery: queue, runner, the QThread worker and the engine API it calls.
Reaches torch-using engine code only inside RealEngine's methods (imported when first called)."""

//! Setting up logs: a bad filter is refused with a message that names it, and a second
//! subscriber is refused. Its own test binary: the subscriber is global.

use grove_kit::telemetry::{Telemetry, TelemetryError};

#[test]
fn a_bad_filter_is_refused_and_a_second_subscriber_too() {
    let error = Telemetry::new()
        .log_filter("grove_otp=loud")
        .init()
        .unwrap_err();
    assert!(matches!(error, TelemetryError::Filter { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("grove_otp=loud"), "{message}");
    assert!(message.contains("Telemetry::log_filter"), "{message}");

    let guard = Telemetry::new()
        .log_filter("warn")
        .init()
        .expect("the first one installs");
    assert!(tracing::dispatcher::has_been_set());
    assert!(matches!(
        Telemetry::new().init(),
        Err(TelemetryError::AlreadyInstalled)
    ));
    guard.flush().expect("nothing to flush without an exporter");
}

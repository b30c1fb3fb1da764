//! The C++ model's driving ABI (src/model/xsim.h).

use core::ffi::c_char;

extern "C" {
    pub fn xsim_boot(flavor: i32);
    pub fn xsim_shutdown(reboot: bool);
    pub fn xsim_flavor_get() -> i32;
    pub fn xsim_now() -> u64;
    pub fn xsim_advance_clock_ns(nanoseconds: u64);
    pub fn xsim_jump_clock_ns(nanoseconds: u64);
    pub fn xsim_wait_quiet(timeout_ms: u32) -> bool;
    pub fn xsim_counter(name: *const c_char) -> u64;
    pub fn xsim_log_count() -> usize;
    pub fn xsim_log_line(index: usize, buffer: *mut c_char, capacity: usize) -> usize;
    pub fn xsim_sanitizer() -> i32;

    pub fn xsim_violation_count() -> usize;
    pub fn xsim_violation_get(
        index: usize,
        kind: *mut i32,
        held_ns: *mut u64,
        subject: *mut c_char,
        subject_capacity: usize,
        callback: *mut c_char,
        callback_capacity: usize,
        text: *mut c_char,
        text_capacity: usize,
    ) -> usize;
    pub fn xsim_violations_drop(count: usize);
    pub fn xsim_gate_hold_count() -> usize;
    pub fn xsim_gate_hold_get(
        index: usize,
        subject: *mut c_char,
        subject_capacity: usize,
        callback: *mut c_char,
        callback_capacity: usize,
        held_ns: *mut u64,
        sleeps: *mut u32,
    ) -> bool;

    pub fn xsim_desktop_set(every_ms: u64, burst_ms: u64, quiet_ms: u64);
    pub fn xsim_resource_publish(key: *const c_char);
    pub fn xsim_resource_remove(key: *const c_char);
    pub fn xsim_resource_published(key: *const c_char) -> bool;

    pub fn xsim_kext_define(bundle_id: *const c_char, module: *const c_char) -> i32;
    pub fn xsim_kext_personality(bundle_id: *const c_char, name: *const c_char);
    pub fn xsim_kext_property_string(
        bundle_id: *const c_char,
        key: *const c_char,
        value: *const c_char,
    );
    pub fn xsim_kext_property_number(
        bundle_id: *const c_char,
        key: *const c_char,
        value: u64,
        bits: u32,
    );
    pub fn xsim_kext_property_bool(bundle_id: *const c_char, key: *const c_char, value: bool);
    pub fn xsim_kext_install(bundle_id: *const c_char) -> i32;
    pub fn xsim_kext_load(bundle_id: *const c_char) -> i32;
    pub fn xsim_kext_unload(bundle_id: *const c_char) -> i32;
    pub fn xsim_kext_loaded(bundle_id: *const c_char) -> bool;
    pub fn xsim_kext_service_count(bundle_id: *const c_char) -> u32;
    pub fn xsim_catalogue_personalities(bundle_id: *const c_char) -> u32;
    pub fn xsim_instance_count(class_name: *const c_char) -> i64;

    pub fn xsim_task_spawn(euid: u32, name: *const c_char) -> u32;
    pub fn xsim_task_kill(task: u32);
    pub fn xsim_open(
        task: u32,
        class_name: *const c_char,
        connect_type: u32,
        connection: *mut u64,
    ) -> i32;
    pub fn xsim_call(
        connection: u64,
        selector: u32,
        scalar_in: *const u64,
        scalar_in_count: u32,
        struct_in: *const u8,
        struct_in_size: usize,
        scalar_out: *mut u64,
        scalar_out_count: *mut u32,
        struct_out: *mut u8,
        struct_out_size: *mut usize,
    ) -> i32;
    pub fn xsim_close(connection: u64) -> i32;
    pub fn xsim_connect_get_service(
        connection: u64,
        class_name: *mut c_char,
        capacity: usize,
    ) -> i32;

    pub fn xsim_hook_fail_next_open(code: i32);
    pub fn xsim_hook_pause_next_open();
    pub fn xsim_hook_wait_open_paused(timeout_ms: u32) -> bool;
    pub fn xsim_hook_release_open();
    pub fn xsim_hook_park_next_method(connection: u64);
    pub fn xsim_hook_wait_method_parked(timeout_ms: u32) -> bool;
    pub fn xsim_hook_release_method();
    pub fn xsim_hook_hold_terminate_worker(hold: bool);
    pub fn xsim_hook_wait_worker_held(timeout_ms: u32) -> bool;

    pub fn xsim_cpu_set_one_cpu(one_cpu: bool);
    pub fn xsim_cpu_register_user_thread() -> bool;
    pub fn xsim_cpu_unregister_user_thread();

    pub fn xsim_fileop(action: i32, arg0: usize, arg1: usize, arg2: usize, arg3: usize) -> u32;
    pub fn xsim_kauth_listener_count() -> u32;
    pub fn xsim_kauth_listen_other() -> bool;
    pub fn xsim_kauth_unlisten_others();
    pub fn xsim_kauth_arm_straggler(mode: i32, delay_ns: u64);
    pub fn xsim_kauth_wait_straggler_parked(timeout_ms: u32) -> bool;
    pub fn xsim_kauth_wait_straggler_done(timeout_ms: u32) -> bool;
    pub fn xsim_kauth_arm_torn_pair();
    pub fn xsim_kauth_torn_canary_intact() -> bool;
}

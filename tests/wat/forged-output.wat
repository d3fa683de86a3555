;; A hand-written policy that tries to forge the enforcer's output: it
;; denies every request with a reason holding a newline and a forged
;; "enforcer: allowed by policy x" line, a clear-screen sequence and a bidi
;; override, logs a message with raw control characters, and names itself
;; with control characters in its metadata. The enforcer must print all of
;; them escaped, on one line each (tests/printable.rs).
(module
  (import "enforcer" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))

  ;; {"decision":{"allow":false,"reason":"no\nenforcer: allowed by policy x\u001b[2J\u202etxt.exe"}}
  (data (i32.const 0) "{\"decision\":{\"allow\":false,\"reason\":\"no\\nenforcer: allowed by policy x\\u001b[2J\\u202etxt.exe\"}}")
  ;; {"name":"forged\nname: trusted","version":"1.0.0\u001b[2J","description":"hand-written WAT policy with control characters in every string it returns"}
  (data (i32.const 512) "{\"name\":\"forged\\nname: trusted\",\"version\":\"1.0.0\\u001b[2J\",\"description\":\"hand-written WAT policy with control characters in every string it returns\"}")
  ;; "log" LF "enforcer: allowed by policy x" ESC "[2J"
  (data (i32.const 1024) "log\0aenforcer: allowed by policy x\1b[2J")

  (func (export "policy_abi_version") (result i32) (i32.const 1))

  ;; Bump allocator, growing memory when a request does not fit.
  (func (export "policy_alloc") (param $len i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $len)))
    (block $fits
      (br_if $fits (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
      (drop (memory.grow
        (i32.add (i32.div_u (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
                            (i32.const 65536))
                 (i32.const 1)))))
    (local.get $ptr))

  (func (export "policy_free") (param i32 i32))

  ;; (ptr << 32) | len
  (func $pack (param $ptr i32) (param $len i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
            (i64.extend_i32_u (local.get $len))))

  (func (export "policy_evaluate") (param i32 i32) (result i64)
    (call $log (i32.const 2) (i32.const 1024) (i32.const 37))
    (call $pack (i32.const 0) (i32.const 95)))

  (func (export "policy_metadata") (result i64)
    (call $pack (i32.const 512) (i32.const 150))))

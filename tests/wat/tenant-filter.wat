;; A policy written by hand against docs/abi.md, with no SDK: the ABI is a
;; contract, not an accident of the Rust SDK. It allows every request with a
;; new pid and network namespace and 42 pids, except requests whose JSON
;; contains "tenant":"blocked", which it denies. It logs one line per
;; evaluation through the only import a policy may have, enforcer.log.
(module
  (import "enforcer" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 2)
  ;; Bump allocator: requests are written from offset 4096 upwards.
  (global $heap (mut i32) (i32.const 4096))

  (data (i32.const 0) "{\"decision\":{\"allow\":true,\"reason\":\"hand-written WAT policy\",\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\"}],\"resources\":{\"pids\":{\"limit\":42}}}}")
  (data (i32.const 256) "{\"decision\":{\"allow\":false,\"reason\":\"tenant blocked is refused by the WAT policy\"}}")
  (data (i32.const 512) "\"tenant\":\"blocked\"")
  (data (i32.const 640) "{\"name\":\"tenant-filter\",\"version\":\"1.0.0\",\"description\":\"hand-written WAT policy, no SDK\"}")
  (data (i32.const 896) "hand-written policy evaluating a request")

  (func (export "policy_abi_version") (result i32) (i32.const 1))

  (func (export "policy_alloc") (param $len i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $len)))
    ;; Grow memory when the request does not fit.
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

  ;; Does memory[start..start+len) contain the pattern?
  (func $contains_pattern (param $start i32) (param $len i32) (result i32)
    (local $i i32) (local $j i32)
    (block $not_found
      (loop $outer
        (br_if $not_found (i32.gt_u (i32.add (local.get $i) (i32.const 18)) (local.get $len)))
        (local.set $j (i32.const 0))
        (block $mismatch
          (loop $inner
            (br_if $mismatch
              (i32.ne (i32.load8_u (i32.add (i32.add (local.get $start) (local.get $i)) (local.get $j)))
                      (i32.load8_u (i32.add (i32.const 512) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br_if $inner (i32.lt_u (local.get $j) (i32.const 18)))
            (return (i32.const 1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (i32.const 0))

  (func (export "policy_evaluate") (param $ptr i32) (param $len i32) (result i64)
    (call $log (i32.const 2) (i32.const 896) (i32.const 40))
    (if (result i64) (call $contains_pattern (local.get $ptr) (local.get $len))
      (then (call $pack (i32.const 256) (i32.const 83)))
      (else (call $pack (i32.const 0) (i32.const 145)))))

  (func (export "policy_metadata") (result i64)
    (call $pack (i32.const 640) (i32.const 90))))

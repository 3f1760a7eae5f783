;; Philox4x32-10 uniforms in WebAssembly SIMD: the same numbers as src/random/philox.ts (the specification,
;; and the fallback where SIMD is missing). Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy
;; as 1, 2, 3" (SC 2011). Counter (c0, c1, 0, stream), key (k0, k1); word x -> (x >>> 8) * 2^-24.
;;
;; Each i32x4 holds one word of four consecutive blocks (lane = block). Two such groups (A and B, eight
;; blocks) go through the ten rounds side by side, so that one group's multiplies overlap the other's.
;;
;; fill(pairs, k0, k1, stream, c0, c1) writes 32 * pairs float32 uniforms from address 0: block c + b
;; (c = c1 * 2^32 + c0) gives elements 4b .. 4b + 3. The low counter word may wrap once inside a call (the
;; carry is per lane); the caller keeps 8 * pairs <= 2^32.
;; Assemble with `pnpm --filter @rbmjs/core build:wasm` (wabt); src/random/philox-wasm.ts holds the bytes.
(module
  (memory (export "memory") 16)

  ;; Words -> uniforms, then a 4x4 transpose so that each block's four words are contiguous at $ptr.
  (func $store (param $ptr i32) (param $x0 v128) (param $x1 v128) (param $x2 v128) (param $x3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128) (local $scale v128)
    (local.set $scale (f32x4.splat (f32.const 0x1p-24)))
    (local.set $x0 (f32x4.mul (f32x4.convert_i32x4_u (i32x4.shr_u (local.get $x0) (i32.const 8))) (local.get $scale)))
    (local.set $x1 (f32x4.mul (f32x4.convert_i32x4_u (i32x4.shr_u (local.get $x1) (i32.const 8))) (local.get $scale)))
    (local.set $x2 (f32x4.mul (f32x4.convert_i32x4_u (i32x4.shr_u (local.get $x2) (i32.const 8))) (local.get $scale)))
    (local.set $x3 (f32x4.mul (f32x4.convert_i32x4_u (i32x4.shr_u (local.get $x3) (i32.const 8))) (local.get $scale)))
    ;; t0 = (b0w0 b0w1 b1w0 b1w1), t1 = (b2w0 b2w1 b3w0 b3w1); t2, t3 the same for words 2 and 3.
    (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $x0) (local.get $x1)))
    (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $x0) (local.get $x1)))
    (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $x2) (local.get $x3)))
    (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $x2) (local.get $x3)))
    (v128.store offset=0 (local.get $ptr)
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
    (v128.store offset=16 (local.get $ptr)
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
    (v128.store offset=32 (local.get $ptr)
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
    (v128.store offset=48 (local.get $ptr)
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3))))

  (func (export "fill")
    (param $pairs i32) (param $k0 i32) (param $k1 i32) (param $stream i32) (param $c0 i32) (param $c1 i32)
    (local $p i32) (local $round i32) (local $first i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local $hiA v128) (local $loA v128) (local $hiB v128) (local $loB v128)
    (local $pa0 v128) (local $qa0 v128) (local $pb0 v128) (local $qb0 v128) (local $pa2 v128) (local $qa2 v128) (local $pb2 v128) (local $qb2 v128)
    (local $key0 v128) (local $key1 v128) (local $m0 v128) (local $m1 v128) (local $low v128)
    (local.set $m0 (i32x4.splat (i32.const 0xd2511f53)))
    (local.set $m1 (i32x4.splat (i32.const 0xcd9e8d57)))
    (local.set $low (i32x4.splat (local.get $c0)))
    (block $done
      (loop $pair
        (br_if $done (i32.ge_u (local.get $p) (local.get $pairs)))
        ;; Counters c0 + 8p + lane (A) and c0 + 8p + 4 + lane (B); lanes whose low word wrapped below c0
        ;; compare to -1, so c1 - that = c1 + 1 carries.
        (local.set $first (i32.add (local.get $c0) (i32.shl (local.get $p) (i32.const 3))))
        (local.set $a0 (i32x4.add (i32x4.splat (local.get $first)) (v128.const i32x4 0 1 2 3)))
        (local.set $b0 (i32x4.add (i32x4.splat (local.get $first)) (v128.const i32x4 4 5 6 7)))
        (local.set $a1 (i32x4.sub (i32x4.splat (local.get $c1)) (i32x4.lt_u (local.get $a0) (local.get $low))))
        (local.set $b1 (i32x4.sub (i32x4.splat (local.get $c1)) (i32x4.lt_u (local.get $b0) (local.get $low))))
        (local.set $a2 (v128.const i32x4 0 0 0 0))
        (local.set $b2 (v128.const i32x4 0 0 0 0))
        (local.set $a3 (i32x4.splat (local.get $stream)))
        (local.set $b3 (local.get $a3))
        (local.set $key0 (i32x4.splat (local.get $k0)))
        (local.set $key1 (i32x4.splat (local.get $k1)))
        (local.set $round (i32.const 0))
        (loop $rounds
          ;; (x0, x1, x2, x3) <- (hi(M1 x2) ^ x1 ^ key0, lo(M1 x2), hi(M0 x0) ^ x3 ^ key1, lo(M0 x0)). The four
          ;; 32x32-bit products of a vector are two 64-bit ones per half (extmul); their high and low words are
          ;; gathered by shuffles (cheaper than i32x4.mul for the low words on x86).
          (local.set $pa0 (i64x2.extmul_low_i32x4_u (local.get $a0) (local.get $m0)))
          (local.set $qa0 (i64x2.extmul_high_i32x4_u (local.get $a0) (local.get $m0)))
          (local.set $pb0 (i64x2.extmul_low_i32x4_u (local.get $b0) (local.get $m0)))
          (local.set $qb0 (i64x2.extmul_high_i32x4_u (local.get $b0) (local.get $m0)))
          (local.set $pa2 (i64x2.extmul_low_i32x4_u (local.get $a2) (local.get $m1)))
          (local.set $qa2 (i64x2.extmul_high_i32x4_u (local.get $a2) (local.get $m1)))
          (local.set $pb2 (i64x2.extmul_low_i32x4_u (local.get $b2) (local.get $m1)))
          (local.set $qb2 (i64x2.extmul_high_i32x4_u (local.get $b2) (local.get $m1)))
          (local.set $hiA (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $pa0) (local.get $qa0)))
          (local.set $loA (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $pa0) (local.get $qa0)))
          (local.set $hiB (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $pb0) (local.get $qb0)))
          (local.set $loB (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $pb0) (local.get $qb0)))
          (local.set $a0 (v128.xor (v128.xor (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $pa2) (local.get $qa2)) (local.get $a1)) (local.get $key0)))
          (local.set $b0 (v128.xor (v128.xor (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $pb2) (local.get $qb2)) (local.get $b1)) (local.get $key0)))
          (local.set $a1 (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $pa2) (local.get $qa2)))
          (local.set $b1 (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $pb2) (local.get $qb2)))
          (local.set $a2 (v128.xor (v128.xor (local.get $hiA) (local.get $a3)) (local.get $key1)))
          (local.set $b2 (v128.xor (v128.xor (local.get $hiB) (local.get $b3)) (local.get $key1)))
          (local.set $a3 (local.get $loA))
          (local.set $b3 (local.get $loB))
          ;; Weyl sequence of the key.
          (local.set $key0 (i32x4.add (local.get $key0) (i32x4.splat (i32.const 0x9e3779b9))))
          (local.set $key1 (i32x4.add (local.get $key1) (i32x4.splat (i32.const 0xbb67ae85))))
          (local.set $round (i32.add (local.get $round) (i32.const 1)))
          (br_if $rounds (i32.lt_u (local.get $round) (i32.const 10))))
        (call $store (i32.shl (local.get $p) (i32.const 7)) (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3))
        (call $store (i32.add (i32.shl (local.get $p) (i32.const 7)) (i32.const 64))
          (local.get $b0) (local.get $b1) (local.get $b2) (local.get $b3))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $pair)))))

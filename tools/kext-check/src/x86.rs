//! x86_64: finds code that touches SSE/AVX/MMX/x87 state. The kernel does not save the user's
//! floating-point state on entry, so a kext that uses these registers corrupts user threads.

use iced_x86::{CpuidFeature, Decoder, DecoderOptions, InstructionInfoFactory, Register};

use crate::code::CodeRange;

/// Describes the first floating-point/vector use in `range`, if any.
pub fn first_float_use(range: &CodeRange<'_>) -> Option<(u64, String)> {
    let mut decoder = Decoder::with_ip(64, range.bytes, range.address, DecoderOptions::NONE);
    let mut info = InstructionInfoFactory::new();
    for instruction in &mut decoder {
        if instruction.is_invalid() {
            continue;
        }
        let mnemonic = format!("{:?}", instruction.mnemonic()).to_lowercase();
        let used = info.info(&instruction);
        if let Some(reg) = used.used_registers().iter().map(|u| u.register()).find(|&r| is_float_register(r)) {
            return Some((instruction.ip(), format!("{mnemonic} uses {reg:?}")));
        }
        if let Some(feature) = instruction.cpuid_features().iter().find(|f| is_float_feature(**f)) {
            return Some((instruction.ip(), format!("{mnemonic} is an {feature:?} instruction")));
        }
    }
    None
}

fn is_float_register(r: Register) -> bool {
    r.is_xmm() || r.is_ymm() || r.is_zmm() || r.is_k() || r.is_mm() || r.is_st() || r.is_tmm()
}

/// x87 and MMX instructions that name no register of those classes (fninit, fnstcw, emms...).
/// SSE instructions without a vector register (mfence, lfence, pause) are harmless and allowed.
fn is_float_feature(f: CpuidFeature) -> bool {
    matches!(f, CpuidFeature::FPU | CpuidFeature::FPU287 | CpuidFeature::FPU387 | CpuidFeature::MMX)
}

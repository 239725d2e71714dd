//! Device checks: each `[[personality.device]]` on its own (name, MMIO
//! range, compatible strings, interrupts) and against every earlier device
//! of any personality (no shared registers or interrupts).

use janus_platform::{BoardDescription, PhysRange};

use super::ValidationError;
use crate::model::{DeviceRef, Manifest, PersonalityRef};
use crate::rules::{DeviceInterruptProblem, DeviceMmioProblem, MAX_DEVICE_INTERRUPTS, MAX_DEVICES, check_device_interrupt, check_device_mmio, check_name};

/// Who the device at `flat_index` of [`Manifest::devices`] is, for messages:
/// its personality and its position among that personality's devices.
fn device_reference(manifest: &Manifest, flat_index: usize) -> (PersonalityRef, DeviceRef) {
    let Some(device) = manifest.devices.get(flat_index) else {
        let nobody = PersonalityRef { index: 0, name: String::new() };
        let device = DeviceRef { index: flat_index, name: String::new() };
        return (nobody, device);
    };
    let personality = PersonalityRef {
        index: device.personality,
        name: manifest.personalities.get(device.personality).map_or_else(String::new, |personality| personality.name.clone()),
    };
    let position = manifest.devices.iter().take(flat_index).filter(|earlier| earlier.personality == device.personality).count();
    (personality, DeviceRef { index: position, name: device.name.clone() })
}

/// Whether `entry` can be a device tree compatible string: non-empty, of
/// the characters node names may use (Devicetree Specification v0.4 §2.2.1,
/// §2.3.1 "manufacturer,model").
fn is_compatible_string(entry: &str) -> bool {
    !entry.is_empty() && entry.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ',' | '.' | '_' | '+' | '-'))
}

/// Every device on its own, then against every earlier device of any
/// personality (file order): MMIO and interrupts are never shared.
pub(super) fn check_devices(manifest: &Manifest, board: &BoardDescription, errors: &mut Vec<ValidationError>) {
    let allowed: Vec<PhysRange> = board.dma_incapable.iter().copied().collect();
    for (flat_index, device) in manifest.devices.iter().enumerate() {
        let (personality, me) = device_reference(manifest, flat_index);
        let earlier = || manifest.devices.iter().enumerate().take(flat_index);
        if me.index == MAX_DEVICES {
            errors.push(ValidationError::TooManyDevices {
                personality: personality.clone(),
                device: me.clone(),
                count: manifest.devices_of(device.personality).count(),
            });
        }
        if let Err(problem) = check_name(&device.name) {
            errors.push(ValidationError::DeviceInvalidName { personality: personality.clone(), device: me.clone(), problem });
        } else if let Some(first_index) =
            earlier().filter(|(_, other)| other.personality == device.personality).position(|(_, other)| other.name == device.name)
        {
            errors.push(ValidationError::DeviceDuplicateName { personality: personality.clone(), device: me.clone(), first_index });
        }

        let mmio = device.mmio;
        match check_device_mmio(board, mmio) {
            Err(problem) => errors.push(mmio_error(problem, personality.clone(), me.clone(), mmio, &allowed)),
            Ok(()) => {
                if let Some((other_index, other)) = earlier().find(|(_, other)| other.mmio.end().is_some() && other.mmio.overlaps(&mmio)) {
                    let (other_personality, other_device) = device_reference(manifest, other_index);
                    errors.push(ValidationError::DeviceMmioOverlap {
                        personality: personality.clone(),
                        device: me.clone(),
                        mmio,
                        other: other_personality,
                        other_device,
                        other_mmio: other.mmio,
                    });
                }
            }
        }

        if device.compatible.is_empty() {
            errors.push(ValidationError::DeviceNoCompatible { personality: personality.clone(), device: me.clone() });
        }
        if let Some((position, entry)) = device.compatible.iter().enumerate().find(|(_, entry)| !is_compatible_string(entry)) {
            errors.push(ValidationError::DeviceBadCompatible { personality: personality.clone(), device: me.clone(), position, entry: entry.clone() });
        }

        if device.interrupts.len() > MAX_DEVICE_INTERRUPTS {
            errors.push(ValidationError::TooManyDeviceInterrupts { personality: personality.clone(), device: me.clone(), count: device.interrupts.len() });
        }
        for (position, &interrupt) in device.interrupts.iter().enumerate() {
            let (personality, device_ref) = (personality.clone(), me.clone());
            match check_device_interrupt(board, interrupt) {
                Err(DeviceInterruptProblem::NotSpi) => {
                    errors.push(ValidationError::DeviceInterruptNotSpi { personality, device: device_ref, position, interrupt });
                }
                Err(DeviceInterruptProblem::Reserved { owner }) => {
                    errors.push(ValidationError::DeviceInterruptReserved { personality, device: device_ref, position, interrupt, owner });
                }
                Ok(()) => {
                    let holder = earlier()
                        .find(|(_, other)| other.interrupts.contains(&interrupt))
                        .map(|(other_index, _)| device_reference(manifest, other_index))
                        .or_else(|| {
                            device.interrupts.iter().take(position).any(|&earlier| earlier == interrupt).then(|| (personality.clone(), device_ref.clone()))
                        });
                    if let Some((other, other_device)) = holder {
                        errors.push(ValidationError::DeviceInterruptShared { personality, device: device_ref, position, interrupt, other, other_device });
                    }
                }
            }
        }
    }
}

fn mmio_error(problem: DeviceMmioProblem, personality: PersonalityRef, device: DeviceRef, mmio: PhysRange, allowed: &[PhysRange]) -> ValidationError {
    match problem {
        DeviceMmioProblem::DmaCapable => ValidationError::DeviceMmioDmaCapable { personality, device, mmio, allowed: allowed.to_vec() },
        DeviceMmioProblem::Empty => ValidationError::DeviceMmioEmpty { personality, device },
        DeviceMmioProblem::Wraps => ValidationError::DeviceMmioWraps { personality, device, mmio },
        DeviceMmioProblem::BaseMisaligned => ValidationError::DeviceMmioBaseMisaligned { personality, device, base: mmio.start.get() },
        DeviceMmioProblem::SizeMisaligned => ValidationError::DeviceMmioSizeMisaligned { personality, device, size: mmio.size },
        DeviceMmioProblem::OverlapsReserved { region, range } => ValidationError::DeviceMmioReserved { personality, device, mmio, region, range },
    }
}

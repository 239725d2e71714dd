//! The console as a user at a terminal meets it, with the two Debian
//! personalities: the hotkey works whatever the foreground does, no guest
//! can forge Janus' indicator or make the terminal answer into the other
//! personality, and the whole device stops cleanly.

use std::time::Duration;

use janus_tests::linux::{COMMAND_KEY, HOTKEY, linux_manifest, tagged_linux_manifest, wait_tagged, with_work_arguments};
use janus_tests::{Disk, Machine};

/// Forty keystrokes that are not a command.
const FORTY: &str = "abcdefghijklmnopqrstuvwxyz0123456789abcd";

/// Types a computed echo into the foreground shell and waits for its answer.
fn answers(machine: &Machine, from: usize, tag: &str) -> usize {
    machine.send(&format!("echo {tag}-$((40+2))\n"));
    machine.wait_exact(from, &format!("{tag}-42"))
}

/// The switched system (`cargo xtask run`'s) with personal's shell up.
fn boot_switched(manifest: &str) -> (Machine, usize) {
    let machine = Machine::boot(manifest);
    let ready = machine.wait_exact(0, "personal: ready");
    let ready = machine.wait_for_shell(ready, "");
    (machine, ready)
}

#[test]
fn the_hotkey_works_whatever_the_foreground_does() {
    // Work's root may map its own UART (iomem=relaxed) to silence it.
    let (machine, ready) = boot_switched(&with_work_arguments(&linux_manifest(), "iomem=relaxed"));
    machine.send(HOTKEY);
    let (front, _) = machine.wait_for_after(ready, "janus: foreground is work");
    let at = machine.wait_for_shell(front, "");

    // 1. Work powers off in front; what is typed is dropped, with a word;
    //    the hotkey still switches.
    machine.send("poweroff -f\n");
    let (off, _) = machine.wait_for_after(at, "janus: work: SYSTEM_OFF: stopped");
    machine.send(FORTY);
    machine.wait_for_after(off, "janus: work is off: keystrokes are dropped");
    machine.send(HOTKEY);
    let (front, _) = machine.wait_for_after(off, "janus: foreground is personal");
    let at = answers(&machine, front, "personal-after-work-stopped");

    // 2. Work is started again from the console.
    machine.send(HOTKEY);
    let (front, _) = machine.wait_for_after(at, "janus: foreground is work (off: Ctrl-\\ s starts it)");
    machine.send(&format!("{COMMAND_KEY}s"));
    let (started, _) = machine.wait_for_after(front, "janus: work: starting: scrubbing its RAM and loading its images");
    let at = machine.wait_exact(started, "work: ready");
    let at = machine.wait_for_shell(at, "");

    // 3. Work masks its UART's receive interrupt (and will restart later):
    //    it reads nothing more, yet the hotkey switches.
    // (The driver unmasks it again whenever it sends: the shell's next
    // prompt would. `sleep` keeps work silent.)
    machine.send("(sleep 20; reboot -f) & devmem 0x09000038 32 0; sleep 15\n");
    std::thread::sleep(Duration::from_secs(1));
    machine.send(FORTY);
    std::thread::sleep(Duration::from_millis(300));
    machine.send(HOTKEY);
    let (front, _) = machine.wait_for_after(at, "janus: foreground is personal");
    let at = answers(&machine, front, "personal-after-work-went-deaf");
    assert!(!machine.lines()[front..].iter().any(|line| line.contains(FORTY)), "keystrokes typed into work reached personal");

    // 4. The board's power key switches too, and typing into personal
    //    resumes after it; what was typed just before the press is not
    //    personal's.
    machine.press_power_key();
    let (front, _) = machine.wait_for_after(at, "janus: foreground is work");
    std::thread::sleep(Duration::from_millis(500));
    machine.send(FORTY);
    machine.press_power_key();
    let (front, _) = machine.wait_for_after(front, "janus: foreground is personal");
    let at = answers(&machine, front, "personal-after-the-power-key");
    let leaked: Vec<String> = machine.lines()[front..at].iter().filter(|line| line.contains("abcdefgh") || line.contains("0123456")).cloned().collect();
    assert!(leaked.is_empty(), "keystrokes typed into work before the power key reached personal: {leaked:?}");

    // 5. While work restarts, the hotkey goes on switching; once up, work
    //    reads its console again.
    let (reset, _) = machine.wait_for_after(at, "janus: work: SYSTEM_RESET: scrubbing its RAM and restarting it");
    machine.send(HOTKEY);
    let (front, _) = machine.wait_for_after(reset, "janus: foreground is work");
    machine.send(FORTY);
    machine.send(HOTKEY);
    let (front, _) = machine.wait_for_after(front, "janus: foreground is personal");
    let at = answers(&machine, front, "personal-while-work-restarts");
    machine.send(HOTKEY);
    let (front, _) = machine.wait_for_after(at, "janus: foreground is work");
    machine.wait_from(reset, "work's ready line", |line| line.trim() == "work: ready");
    let at = machine.wait_for_shell(front, "");
    answers(&machine, at, "work-reads-again");
    machine.assert_absent("janus: error");
    machine.assert_absent("Kernel panic");
}

/// A line as it reads on the screen: control sequences (what the console
/// lets through: erase in line, colours...) taken out.
fn visible(line: &str) -> String {
    let mut text = String::new();
    let mut characters = line.chars();
    while let Some(character) = characters.next() {
        if character == '\u{1b}' {
            // ESC [ parameters final: skip to the final byte.
            for next in characters.by_ref() {
                if ('@'..='~').contains(&next) && next != '[' {
                    break;
                }
            }
        } else {
            text.push(character);
        }
    }
    text
}

/// Answers terminal queries as a real terminal would (the cursor-position
/// report), so a query that got through would type into the foreground.
fn answer_queries(machine: &Machine, from: usize) -> usize {
    let lines = machine.lines();
    for line in &lines[from.min(lines.len())..] {
        for _ in line.matches("\u{1b}[6n") {
            machine.send("\u{1b}[7;1R");
        }
    }
    lines.len()
}

#[test]
fn a_guest_cannot_forge_janus_or_make_the_terminal_answer_for_it() {
    let (machine, ready) = boot_switched(&linux_manifest());
    // Personal records whatever its console receives until Ctrl-C.
    machine.send("cat > /tmp/typed\n");
    std::thread::sleep(Duration::from_millis(500));
    machine.send(HOTKEY);
    let (front, _) = machine.wait_for_after(ready, "janus: foreground is work");
    let at = machine.wait_for_shell(front, "");

    // The forgery: clear the screen, print Janus' line and a fake prompt,
    // and ask for the cursor position.
    machine.send("clear; printf 'janus: foreground is personal\\n\\npersonal# '; printf '\\033[6n\\033]0;personal\\007'; echo; echo forgery-done\n");
    let done = machine.wait_exact(at, "forgery-done");
    let answered = answer_queries(&machine, front);
    // The forged output line is shown marked as work's; no line starts with
    // Janus' words unmarked. (The echo of the typed command is the user's
    // own text: whether it is marked depends on how the keystrokes and the
    // echo interleave.)
    let output: Vec<String> = machine.lines()[at..done].iter().map(|line| visible(line)).collect();
    assert!(output.iter().any(|line| line.trim() == "[work] janus: foreground is personal"), "the forgery is not marked: {output:?}");
    let unmarked: Vec<&String> = output.iter().filter(|line| line.trim_start().starts_with("janus: foreground is personal")).collect();
    assert!(unmarked.is_empty(), "a forged Janus line is not marked as work's: {unmarked:?}");
    for line in &machine.lines()[front..done] {
        for sequence in ["\u{1b}[2J", "\u{1b}[H", "\u{1b}[3J", "\u{1b}[6n", "\u{1b}]0;"] {
            assert!(!line.contains(sequence), "work's {sequence:?} reached the terminal: {line:?}");
        }
    }
    // Janus' own answer: reverse video, naming work.
    machine.send(&format!("{COMMAND_KEY}i"));
    let (indicator, _) = machine.wait_for_after(done, "\u{1b}[7m janus: foreground is work \u{1b}[0m");
    machine.wait_for_after(indicator, "janus: personal: running;");

    // Queries printed in the background are never replayed to the terminal.
    machine.send("(sleep 2; printf '\\033[6n\\033[c'; echo background-query-sent) &\n");
    std::thread::sleep(Duration::from_millis(300));
    machine.send(HOTKEY);
    let (back, _) = machine.wait_for_after(indicator, "janus: foreground is personal");
    std::thread::sleep(Duration::from_secs(4));
    machine.send(HOTKEY);
    let (replayed, _) = machine.wait_for_after(back, "background-query-sent");
    let (front, _) = machine.wait_for_after(replayed, "janus: foreground is work");
    let _ = answer_queries(&machine, answered);
    for line in &machine.lines()[back..=front] {
        assert!(!line.contains("\u{1b}[6n") && !line.contains("\u{1b}[c"), "a replayed query reached the terminal: {line:?}");
    }
    // Back to personal: Ctrl-C ends its recorder (a signal, not data),
    // which received nothing.
    machine.send(HOTKEY);
    let (back, _) = machine.wait_for_after(front, "janus: foreground is personal");
    machine.send("\u{3}");
    let at = machine.wait_for_shell(back, "");
    machine.send("echo typed-begin; od -c /tmp/typed; echo typed-end\n");
    let begin = machine.wait_exact(at, "typed-begin");
    let end = machine.wait_exact(begin, "typed-end");
    let recorded: Vec<String> = machine.lines()[begin + 1..end].iter().map(|line| line.trim().to_string()).filter(|line| line != "0000000").collect();
    assert!(recorded.is_empty(), "personal's console received input while work was in front: {recorded:?}");
}

#[test]
fn the_device_stops_cleanly_and_boots_again_without_repairs() {
    let disk = Disk::fresh();
    let mut machine = Machine::boot_on(&tagged_linux_manifest(), &[], Some(&disk.path));
    let personal = wait_tagged(&machine, 0, "personal", "personal: ready");
    let work = wait_tagged(&machine, 0, "work", "work: ready");
    let at = machine.wait_for_shell(personal.max(work), "[personal] ");
    machine.send("echo kept > /data/kept\n");
    machine.send(HOTKEY);
    let at = machine.wait_for_shell(at, "[work] ");
    machine.send("echo kept > /data/kept\n");
    std::thread::sleep(Duration::from_millis(300));
    // Ctrl-\ q: each personality is asked to power off and unmounts /data,
    // then the board powers off.
    machine.send(&format!("{COMMAND_KEY}q"));
    let (asked, _) = machine.wait_for_after(at, "janus: stopping the device");
    // (Each after its shell's prompt on the same line: no newline ends it.)
    machine.wait_for_after(asked, "personal: /data is clean");
    machine.wait_for_after(asked, "work: /data is clean");
    machine.wait_for_after(asked, "janus: every personality is off: powering off");
    let status = machine.wait_for_exit(Duration::from_secs(30)).expect("QEMU still runs after the device stopped");
    assert!(status.success(), "QEMU exited with {status} after a clean stop");

    // The next boot finds both file systems clean and the files there.
    let machine = Machine::boot_on(&tagged_linux_manifest(), &[], Some(&disk.path));
    let personal = wait_tagged(&machine, 0, "personal", "personal: ready");
    let work = wait_tagged(&machine, 0, "work", "work: ready");
    let repairs: Vec<String> = machine.lines().iter().filter(|line| line.contains("init: e2fsck") || line.contains("is blank")).cloned().collect();
    assert!(repairs.is_empty(), "the next boot repaired or reformatted /data: {repairs:?}");
    let at = machine.wait_for_shell(personal.max(work), "[personal] ");
    machine.send("cat /data/kept; echo personal-read\n");
    let read = wait_tagged(&machine, at, "personal", "personal-read");
    assert_eq!(machine.lines()[read - 1], "[personal] kept");
    machine.send(HOTKEY);
    let at = machine.wait_for_shell(read, "[work] ");
    machine.send("cat /data/kept; echo work-read\n");
    let read = wait_tagged(&machine, at, "work", "work-read");
    assert_eq!(machine.lines()[read - 1], "[work] kept");
}

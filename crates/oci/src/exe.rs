//! The /proc/self/exe defence (CVE-2019-5736) without copying the runtime.
//!
//! The container's init is a fork of caixa-runtime, so until its final
//! execve its /proc/self/exe is the host's caixa-runtime binary. Two ways
//! lead from the container to that file:
//!
//! 1. another container process opens `/proc/<init>/exe` while the init
//!    waits for `start`: the init is made non-dumpable, so the kernel
//!    refuses (ptrace access check);
//! 2. the container's program is a `#!/proc/self/exe` script (or a symlink
//!    to /proc/self/exe): the kernel resolves the interpreter in the
//!    execing process, i.e. the runtime binary would run inside the
//!    container, dumpable and open to the container's processes.
//!
//! Against (2) the final execve goes through a *trampoline*: a 230-byte
//! static ELF written to a sealed memfd, which execs the real program.
//! Whatever /proc/self/exe means at that point, it is the sealed memfd, so
//! nothing the container can open leads back to the runtime binary, and
//! the host binary is never copied. x86_64 only (elsewhere the direct
//! execve is used and only (1) applies).

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{Context, Result};

/// The trampoline: `execve(argv[0], &argv[1], envp)`, else `exit(127)`.
#[cfg(target_arch = "x86_64")]
fn image() -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const EHDR: usize = 64;
    const PHDR: usize = 56;
    let code: &[u8] = &[
        0x48, 0x8b, 0x7c, 0x24, 0x08, // mov rdi, [rsp+8]          ; argv[0]
        0x48, 0x8d, 0x74, 0x24, 0x10, // lea rsi, [rsp+16]         ; &argv[1]
        0x48, 0x8b, 0x04, 0x24, // mov rax, [rsp]                 ; argc
        0x48, 0x8d, 0x54, 0xc4, 0x10, // lea rdx, [rsp+rax*8+16]   ; envp
        0xb8, 0x3b, 0x00, 0x00, 0x00, // mov eax, 59 (execve)
        0x0f, 0x05, // syscall
        0xbf, 0x7f, 0x00, 0x00, 0x00, // mov edi, 127
        0xb8, 0xe7, 0x00, 0x00, 0x00, // mov eax, 231 (exit_group)
        0x0f, 0x05, // syscall
    ];
    let code_off = EHDR + 2 * PHDR;
    let total = (code_off + code.len()) as u64;
    let mut v = Vec::with_capacity(total as usize);
    // ELF header.
    v.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    v.extend_from_slice(&0x3eu16.to_le_bytes()); // EM_X86_64
    v.extend_from_slice(&1u32.to_le_bytes());
    v.extend_from_slice(&(BASE + code_off as u64).to_le_bytes()); // e_entry
    v.extend_from_slice(&(EHDR as u64).to_le_bytes()); // e_phoff
    v.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    v.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    v.extend_from_slice(&(EHDR as u16).to_le_bytes());
    v.extend_from_slice(&(PHDR as u16).to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes()); // e_phnum
    v.extend_from_slice(&[0; 6]); // e_shentsize, e_shnum, e_shstrndx
    // PT_LOAD, R+X, the whole file.
    v.extend_from_slice(&1u32.to_le_bytes());
    v.extend_from_slice(&5u32.to_le_bytes());
    v.extend_from_slice(&0u64.to_le_bytes());
    v.extend_from_slice(&BASE.to_le_bytes());
    v.extend_from_slice(&BASE.to_le_bytes());
    v.extend_from_slice(&total.to_le_bytes());
    v.extend_from_slice(&total.to_le_bytes());
    v.extend_from_slice(&0x1000u64.to_le_bytes());
    // PT_GNU_STACK, RW: a non-executable stack.
    v.extend_from_slice(&0x6474_e551u32.to_le_bytes());
    v.extend_from_slice(&6u32.to_le_bytes());
    v.extend_from_slice(&[0; 48]);
    v.extend_from_slice(code);
    debug_assert_eq!(v.len() as u64, total);
    v
}

/// Writes the trampoline to a sealed, close-on-exec memfd.
#[cfg(target_arch = "x86_64")]
pub fn trampoline() -> Result<Option<OwnedFd>> {
    const MFD_EXEC: libc::c_uint = 0x10;
    let name = c"caixa-exec";
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: memfd_create with a valid C string; we own the returned fd.
    let mut fd = unsafe { libc::memfd_create(name.as_ptr(), flags | MFD_EXEC) };
    if fd < 0 {
        // Kernels before 6.3 do not know MFD_EXEC (and allow exec anyway).
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
    }
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).ctx(|| "memfd_create".into());
    }
    // SAFETY: fd was just returned to us and nobody else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let img = image();
    let mut file = std::fs::File::from(fd);
    std::io::Write::write_all(&mut file, &img).ctx(|| "writing the exec trampoline".into())?;
    let fd = OwnedFd::from(file);
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: F_ADD_SEALS on our memfd.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(std::io::Error::last_os_error()).ctx(|| "sealing the exec trampoline".into());
    }
    Ok(Some(fd))
}

/// No trampoline on this architecture.
#[cfg(not(target_arch = "x86_64"))]
pub fn trampoline() -> Result<Option<OwnedFd>> {
    Ok(None)
}

/// Execs `path` with `argv`/`envp` through the trampoline `fd`. Returns
/// only on failure.
pub fn exec_through(
    fd: &OwnedFd,
    path: &CString,
    argv: &[CString],
    envp: &[CString],
) -> std::io::Error {
    let mut a: Vec<*const libc::c_char> = Vec::with_capacity(argv.len() + 2);
    a.push(path.as_ptr());
    a.extend(argv.iter().map(|s| s.as_ptr()));
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: NUL-terminated arrays of valid C strings that outlive the
    // call; an empty path with AT_EMPTY_PATH execs the fd itself.
    unsafe {
        libc::execveat(
            fd.as_raw_fd(),
            c"".as_ptr(),
            a.as_ptr() as *const *mut libc::c_char,
            e.as_ptr() as *const *mut libc::c_char,
            libc::AT_EMPTY_PATH,
        )
    };
    std::io::Error::last_os_error()
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    #[test]
    fn trampoline_runs_the_program_with_its_argv() {
        use std::os::fd::AsRawFd;
        let fd = super::trampoline().unwrap().unwrap();
        // Exec the memfd through /proc/self/fd from a child: it must run
        // `/bin/sh -c 'exit 7'` with argv[0] = "sh".
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        // SAFETY: clear CLOEXEC so the child can exec the fd by path.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, 0) };
        let st = std::process::Command::new(&path)
            .arg0("/bin/sh")
            .args(["sh", "-c", "exit 7"])
            .status()
            .unwrap();
        assert_eq!(st.code(), Some(7));
    }
    use std::os::unix::process::CommandExt;
}

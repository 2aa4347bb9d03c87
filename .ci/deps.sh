#!/bin/sh
# Install what moatsim needs to build, test and analyse, when it is missing.
# Debian/Ubuntu: apt-get (sudo when not root). Elsewhere: print the package names, exit 1.
set -eu
DEB_PKGS="gcc make pkg-config libgsl-dev libhdf5-dev hdf5-tools libconfig-dev libcmocka-dev
netcdf-bin cdo nco openmpi-bin libopenmpi-dev python3 python3-numpy python3-h5py python3-xarray
python3-netcdf4 python3-h5netcdf python3-pandas python3-matplotlib python3-scipy python3-pytest
python3-pytest-xdist python3-nbclient python3-nbformat python3-ipykernel slurm-wlm munge python3-plotly jupyter-nbconvert
python3-venv python3-pip python3-setuptools python3-wheel chromium"

if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  missing=""
  for p in $DEB_PKGS; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
  done
  [ -z "$missing" ] && exit 0
  echo "moatsim: installing missing packages:$missing" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
  exit 0
fi

cat >&2 <<'MSG'
moatsim: automatic installation supports Debian and Ubuntu (apt-get). Install these yourself:
  Fedora/RHEL (dnf): gcc make pkgconf-pkg-config gsl-devel hdf5-devel hdf5 libconfig-devel
      libcmocka-devel netcdf cdo nco openmpi-devel python3-numpy python3-h5py python3-xarray
      python3-netcdf4 python3-h5netcdf python3-pandas python3-matplotlib python3-scipy
      python3-pytest python3-pytest-xdist python3-nbclient python3-ipykernel slurm slurm-slurmctld slurm-slurmd munge
      python3-plotly python3-nbconvert chromium
  macOS (brew): gsl hdf5 libconfig cmocka netcdf cdo nco open-mpi pkg-config libomp python
      chromium
      (then: python3 -m pip install h5py xarray netcdf4 h5netcdf pandas matplotlib scipy pytest pytest-xdist nbclient ipykernel plotly nbconvert)
MSG
exit 1

# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 18, findings 2, 3 and 4: ids checked before anything is built from them, and private run directories.

Real ansible-playbook runs of the collection's deploy.yml and destroy.yml, and of the modules, on moto's EC2
API server (no local machine needed); what is on the cloud is read back with boto3.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import pwd
import stat
import subprocess

import pytest

from module_helpers import (  # noqa: F401  pylint: disable=unused-import
    FAKE_KEY_ID, FAKE_SECRET, PUBLIC_KEY, ansible_moto, instance_task, live_instances, moto,
)
from support.collection import ansible_command, ansible_env, collection_root

NOBODY = pwd.getpwnam("nobody").pw_uid


class Playbooks:
    """The collection's own playbooks on the moto test catalog, with a HOME, XDG_CACHE_HOME and TMPDIR of the
    test's own (so that neither the old default, $TMPDIR/slipway-ID, nor the new one touches the real ones)."""

    def __init__(self, ansible, tmp_path):
        self.ansible = ansible
        self.home = tmp_path / "home"
        self.cache = tmp_path / "xdg-cache"
        self.tmpdir = tmp_path / "tmp"
        for directory in (self.home, self.cache, self.tmpdir):
            directory.mkdir(mode=0o700)

    def default_run_dir(self, deployment):
        return self.cache / "slipway.cloud" / "runs" / deployment

    def run(self, playbook, extra_vars):
        env = dict(self.ansible.environ, SLIPWAY_CATALOG=os.pathsep.join(self.ansible.catalog_layers),
                   HOME=str(self.home), XDG_CACHE_HOME=str(self.cache), TMPDIR=str(self.tmpdir))
        argv = ansible_command("ansible-playbook", os.path.join(collection_root(), "playbooks", playbook),
                               "-e", json.dumps(extra_vars))
        return subprocess.run(argv, env=ansible_env(**env), cwd=self.ansible.workdir, capture_output=True,
                              text=True, timeout=600, check=False)


@pytest.fixture
def playbooks(ansible_moto, tmp_path):
    return Playbooks(ansible_moto, tmp_path)


def deploy_vars(deployment, **extra):
    # moto returns no host keys: deploy_keep_going lets the run end with its machines added, not failed
    values = {"image": "trusty", "clouds": ["moto-a"], "deployment": deployment, "wait_timeout": 60,
              "deploy_keep_going": True}
    values.update(extra)
    return values


def test_destroy_refuses_a_deployment_id_that_is_a_path(playbooks):
    """issue 18, finding 2: destroy.yml -e deployment=shop/../victim removed $TMPDIR/victim; now the id is
    refused before anything is removed, with one error naming the option and what is valid."""
    victim = playbooks.tmpdir / "victim"
    victim.mkdir()
    (victim / "precious").write_text("keep me\n")
    home_victim = playbooks.cache / "slipway.cloud" / "victim"
    home_victim.mkdir(parents=True)

    done = playbooks.run("destroy.yml", {"deployment": "shop/../victim", "clouds": ["moto-a"]})

    assert done.returncode != 0, done.stdout
    assert (victim / "precious").read_text() == "keep me\n"
    assert home_victim.is_dir()
    assert "deployment: \"shop/../victim\" is not a valid deployment id" in done.stdout, done.stdout
    assert "letters, digits, '.', '_' and '-', 1 to 128 characters" in done.stdout


def test_deploy_makes_a_private_run_directory_of_the_user_and_destroy_removes_it(playbooks, moto):
    """issue 18, finding 3: the default run directory is the user's own ($XDG_CACHE_HOME/slipway.cloud/runs/ID,
    mode 0700), not a predictable name in a shared $TMPDIR; destroy.yml finds the same one and removes it."""
    made = playbooks.run("deploy.yml", deploy_vars("private"))
    assert made.returncode == 0, made.stdout + made.stderr
    assert live_instances(moto, "moto-a", "private") == {"private": ["running"]}
    run_dir = playbooks.default_run_dir("private")
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    assert (run_dir / "id_ed25519").is_file()
    assert "slipway private" in (run_dir / "id_ed25519.pub").read_text()
    assert list(playbooks.tmpdir.iterdir()) == []

    gone = playbooks.run("destroy.yml", {"deployment": "private", "clouds": ["moto-a"]})
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert live_instances(moto, "moto-a", "private") == {}
    assert not run_dir.exists()


def plant_other_users_directory(path):
    path.mkdir(mode=0o700)
    plant_key(path)
    os.chown(path, NOBODY, NOBODY)
    return "belongs to nobody"


def plant_loose_directory(path):
    path.mkdir()
    path.chmod(0o777)
    plant_key(path)
    return "is writable by group or others (mode 0777)"


def plant_symlink(path):
    target = path.parent / "elsewhere"
    target.mkdir(mode=0o700)
    plant_key(target)
    path.symlink_to(target)
    return "is a symbolic link"


def plant_other_users_key(path):
    path.mkdir(mode=0o700)
    plant_key(path)
    os.chown(path / "id_ed25519", NOBODY, NOBODY)
    return "id_ed25519 is refused: it belongs to nobody"


def plant_key(directory):
    """A key pair someone else made, which must never become the machines' key."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "planted", "-f",
                    str(directory / "id_ed25519")], check=True)


PLANTS = {"owned by nobody": plant_other_users_directory, "mode 0777": plant_loose_directory,
          "a symlink": plant_symlink, "a key owned by nobody": plant_other_users_key}


@pytest.mark.parametrize("plant", list(PLANTS.values()), ids=list(PLANTS))
def test_deploy_refuses_a_run_directory_it_does_not_own_alone(playbooks, moto, tmp_path, plant):
    """issue 18, finding 3: a run directory planted before the run (another user's, writable by others, a symlink,
    or holding another user's key) is refused before any machine is made; the planted key is never used."""
    run_dir = tmp_path / "shared" / "slipway-planted"
    run_dir.parent.mkdir()
    why = plant(run_dir)

    made = playbooks.run("deploy.yml", deploy_vars("planted", run_dir=str(run_dir)))

    assert made.returncode != 0, made.stdout
    assert "run directory %s" % run_dir in made.stdout, made.stdout
    assert why in made.stdout, made.stdout
    assert "remove it (it may have been planted) or give another run_dir" in made.stdout
    assert live_instances(moto, "moto-a") == {}


def test_deploy_refuses_a_run_dir_that_would_break_the_ssh_options(playbooks, moto, tmp_path):
    """issue 18, finding 3: the run directory goes into SSH options (UserKnownHostsFile, ControlPath): a path with
    a space would add options of its own, so it is refused before anything is made."""
    made = playbooks.run("deploy.yml", deploy_vars("spaced", run_dir=str(tmp_path / "a b -oProxyCommand=x")))
    assert made.returncode != 0
    assert "is not usable: it must be an absolute path of letters" in made.stdout, made.stdout
    assert live_instances(moto, "moto-a") == {}


BAD_IDS = [
    # (options, the option named in the error, what kind of id)
    ({"names": ["web-1\n"]}, "option names[0]", "machine name"),
    ({"name": "web-1\n"}, "option name", "machine name"),
    ({"name": "web", "deployment": "shop\n"}, "option deployment", "deployment id"),
    ({"name": "web", "deployment": "shop/../victim"}, "option deployment", "deployment id"),
    ({"name": "web", "clouds": ["moto-a\n"], "cloud": None}, "option clouds[0]", "cloud name"),
    ({"name": "web", "cloud": "moto-a\n"}, "option cloud", "cloud name"),
    ({"name": "web", "image": "trusty\n"}, "option image", "image name"),
    ({"name": "web", "security_groups": ["default\n"]}, "option security_groups[0]", "security group name"),
]


@pytest.mark.parametrize("options, option, kind", BAD_IDS, ids=[str(i) for i in range(len(BAD_IDS))])
def test_instance_refuses_ids_ending_in_a_newline(ansible_moto, moto, options, option, kind):
    """issue 18, finding 4: the id patterns ended in $, so names: ["web-1\\n"] made an EC2 machine; every id option
    is now checked, anchored with \\Z, before any cloud is touched: one error naming the option and what is valid."""
    args = dict({"image": "trusty", "cloud": "moto-a", "wait": "running", "ssh_public_key": PUBLIC_KEY}, **options)
    play = ansible_moto.playbook([instance_task(**args)])
    result = play.result()
    assert result.get("failed") is True, play
    assert "%s: %s" % (option, kind) in result["msg"] and "is not valid: use " in result["msg"], result["msg"]
    assert live_instances(moto, "moto-a") == {}


def test_info_and_group_modules_refuse_bad_ids_too(ansible_moto, moto):
    """issue 18, finding 4: instance_info, image_info, size_info and security_group check their ids the same way;
    a long rejected value is shown only as a short excerpt."""
    long_value = "x" * 300 + "\n"
    play = ansible_moto.playbook([
        {"name": "info", "slipway.cloud.instance_info": {"cloud": "moto-a", "deployment": long_value},
         "ignore_errors": True},
        {"name": "image", "slipway.cloud.image_info": {"image": "trusty\n", "cloud": "moto-a"}, "ignore_errors": True},
        {"name": "size", "slipway.cloud.size_info": {"cloud": "moto-a\n"}, "ignore_errors": True},
        {"name": "group", "slipway.cloud.security_group": {"name": "web\n", "cloud": "moto-a", "rules": []},
         "ignore_errors": True},
    ])
    messages = {name: result.get("msg", "") for name, result in play.tasks}
    assert "option deployment: deployment id 'xxxx" in messages["info"], messages
    assert "x" * 41 not in messages["info"] and "(301 characters)" in messages["info"], messages["info"]
    assert "option image: image name 'trusty\\n' is not valid" in messages["image"], messages
    assert "option cloud: cloud name 'moto-a\\n' is not valid" in messages["size"], messages
    assert "option name: security group name 'web\\n' is not valid" in messages["group"], messages
    assert all(result.get("failed") for dummy, result in play.tasks), play

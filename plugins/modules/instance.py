#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) slipway.cloud contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: instance
short_description: Machines from one logical image on one or several clouds
version_added: 0.1.0
description:
  - Turns a logical image of the catalog into machines on one or several clouds, in parallel, and
    returns for each machine its addresses, SSH URL, SSH host keys and timings.
  - Idempotent by name on each cloud; a second run with the same options changes nothing.
  - Before creating machines, the security groups they get are ensured on the cloud with the catalog's
    rules (a group that opens the image's ports, as C(slipway_managed) does, gets those ports too). The
    groups are O(security_groups) when given, else the image's own or inherited ones, else the catalog's
    C(defaults.security_groups) (C(slipway_managed) in the shipped catalog; a later catalog layer may set
    another, or V([]) for none). Machines on a cloud declared without security groups get none.
    C(slipway.cloud.image_info) shows which applies, and from which file and line. A group the catalog
    does not define must already exist on the cloud.
  - Every machine is tagged C(slipway:managed), C(slipway:image), C(slipway:deployment) and
    C(slipway:name), so that C(state=absent) with the same O(deployment) finds everything a run made,
    even a run that was killed half-way.
  - One cloud failing does not undo the others; the task fails only after reporting every cloud.
author:
  - slipway.cloud contributors (@slipway-cloud)
extends_documentation_fragment:
  - slipway.cloud.catalog
  - slipway.cloud.clouds
  - slipway.cloud.credentials
  - slipway.cloud.wait
attributes:
  check_mode:
    support: full
    description: Plans per cloud (create, start, stop, remove) and reports it; nothing is changed.
  diff_mode:
    support: full
    description: Shows each touched machine before and after, keyed C(cloud/name).
options:
  name:
    description:
      - The name of one machine. Mutually exclusive with O(names) and O(count).
      - A machine name is letters, digits, V(-) and V(.), 1 to 63 characters, starting and ending with a
        letter or digit (a DNS label); any other value (a trailing newline included) fails before any
        cloud is touched. The same holds for O(names) and the names O(count) makes.
    type: str
  names:
    description:
      - The names of several machines.
    type: list
    elements: str
  count:
    description:
      - How many machines, named by O(name_pattern) and numbered from 1.
      - At most 10,000 per task (as are the names of O(names)); split a larger fleet over several tasks.
    type: int
  name_pattern:
    description:
      - The name of each machine of a O(count) fleet, with one integer conversion such as C(%02d).
      - The names it makes must be valid machine names of at most 63 characters; this is checked on the pattern
        before any name is made.
      - Defaults to O(deployment) (or O(image)) followed by C(-%02d).
    type: str
  image:
    description:
      - A logical image of the catalog (see M(slipway.cloud.image_info)).
      - Required unless O(state=absent).
    type: str
  size:
    description:
      - Overrides the image's size. O(size.cpu) and O(size.ram_gb) pick the smallest flavor that fits,
        O(size.flavor) names one.
    type: dict
    suboptions:
      cpu:
        description: Number of virtual CPUs, at least.
        type: float
      ram_gb:
        description: GB of memory, at least.
        type: float
      flavor:
        description: A flavor of the cloud's table, by name.
        type: str
  security_groups:
    description:
      - Overrides the image's security groups and the catalog default (names). Groups the catalog defines
        are ensured on each cloud; others must exist there.
    type: list
    elements: str
  ssh_public_key:
    description:
      - An OpenSSH public key line to authorise for the image's login user.
    type: str
  ssh_public_key_file:
    description:
      - A file holding the public key, read on the controller. Mutually exclusive with O(ssh_public_key).
    type: path
  state:
    description:
      - V(present) makes the named machines exist (new ones are started) and leaves existing ones as they are.
      - V(running) also starts stopped ones; V(stopped) stops them (new ones are created, then stopped).
      - V(absent) removes the named machines; with only O(deployment), every machine of that deployment.
    type: str
    choices: [present, absent, running, stopped]
    default: present
  tags:
    description:
      - Extra tags or labels for new machines. The C(slipway:*) tags are set by the module.
    type: dict
  deployment:
    description:
      - An id that groups the machines of one run; tagged on every machine.
      - Letters, digits, V(.), V(_) and V(-), 1 to 128 characters, starting with a letter or digit (so that
        it is one path component, as C(playbooks/deploy.yml) names its run directory after it). Checked
        before any cloud is touched, like O(image), O(cloud), O(clouds) and O(security_groups).
    type: str
  exact:
    description:
      - Converge the fleet to exactly the names (or count) asked within O(deployment) on each cloud;
        machines of that deployment that are not asked for are removed (and reported in check mode).
      - Without it nothing unasked is ever removed. Needs O(deployment).
    type: bool
    default: false
notes:
  - The SSH host keys in the result let a playbook pin the machines in C(known_hosts); the collection never
    turns host-key checking off.
  - Runs of the same task at once (AWX jobs of one template, two operators) converge to one machine per name
    in the deployment; each run reports the same machines, and the per-cloud result says what another run
    made (C(adopted)) and which duplicates were removed (C(duplicates_removed)).
  - While its create is in flight a run keeps a create mark on EC2 and OpenStack (a key pair named
    C(slipway-creating-*)) and on Exoscale (an anti-affinity group of that name); it is removed when the
    machines are listed, and O(state=absent) of a whole deployment removes any left by a killed run.
seealso:
  - module: slipway.cloud.instance_info
  - module: slipway.cloud.security_group
"""

EXAMPLES = r"""
- name: Two web machines on two clouds, waiting for SSH
  slipway.cloud.instance:
    image: debian-12
    clouds: [local-a, local-b]
    count: 2
    name_pattern: web-%02d
    deployment: shop
    ssh_public_key_file: ~/.ssh/id_ed25519.pub
  delegate_to: localhost
  register: deployed

- name: Pin the host keys they returned
  ansible.builtin.known_hosts:
    name: "{{ item.public_ip or item.private_ip }}"
    key: "{{ item.public_ip or item.private_ip }} {{ item.host_keys[0] }}"
  loop: "{{ deployed.instances }}"
  delegate_to: localhost

- name: A bigger copy on EC2 only, by size
  slipway.cloud.instance:
    image: debian-12
    cloud: aws-eu
    name: db-1
    size: {cpu: 2, ram_gb: 4}
    wait: running
    deployment: shop
  delegate_to: localhost

- name: Shrink the fleet to exactly one machine per cloud
  slipway.cloud.instance:
    image: debian-12
    clouds: [local-a, local-b]
    count: 1
    name_pattern: web-%02d
    deployment: shop
    exact: true
  delegate_to: localhost

- name: Remove everything the deployment made
  slipway.cloud.instance:
    clouds: [local-a, local-b, aws-eu]
    deployment: shop
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
instances:
  description: The machines the task asked for (none for O(state=absent)), cloud by cloud, in the order asked.
  returned: always
  type: list
  elements: dict
  contains:
    cloud:
      description: The catalog cloud.
      type: str
      sample: local-a
    name:
      description: The machine's name, unique on its cloud.
      type: str
      sample: web-01
    id:
      description: The cloud's id for the machine (null in check mode for a machine not yet made).
      type: str
      sample: i-0abc123
    image:
      description: The logical image.
      type: str
      sample: debian-12
    image_id:
      description: The native image id on that cloud.
      type: str
      sample: ami-0123456789abcdef0
    flavor:
      description: The flavor chosen (null on clouds with explicit sizing).
      type: str
      sample: t3.small
    cpu:
      description: Virtual CPUs of the machine.
      type: float
      sample: 2
    ram_gb:
      description: Memory in GB.
      type: float
      sample: 2
    login_user:
      description: The user to log in as.
      type: str
      sample: debian
    public_ip:
      description: Public address, if any.
      type: str
      sample: 198.18.1.23
    private_ip:
      description: Private address, if any.
      type: str
      sample: 198.18.1.23
    ssh_url:
      description: C(ssh://USER@IP), the public address preferred.
      type: str
      sample: ssh://debian@198.18.1.23
    state:
      description: pending, running, stopped, or the cloud's word.
      type: str
      sample: running
    deployment:
      description: The deployment id the machine belongs to.
      type: str
      sample: shop
    tags:
      description: The machine's tags or labels.
      type: dict
      sample: {"slipway:managed": "true", "slipway:image": "debian-12"}
    host_keys:
      description: The machine's SSH host public keys (when the task waited for SSH).
      type: list
      elements: str
      sample: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA..."]
    timings:
      description: When the machine was requested, running and answering SSH (epoch seconds), and the seconds between.
      type: dict
      sample: {"requested_at": 1718000000.1, "running_at": 1718000000.9, "ssh_ready_at": 1718000001.4,
               "deploy_seconds": 1.3}
removed:
  description: The machines removed (or, in check mode, to be removed).
  returned: always
  type: list
  elements: dict
clouds:
  description:
    - Per cloud, what was planned and done, and how it ended.
    - C(adopted) lists the names whose machine another run of the same task made at the same time (reported,
      not made twice); C(duplicates_removed) the machines the survivor rule removed, each with C(made_by)
      (C(this run) or C(another run)).
  returned: always
  type: dict
  sample:
    local-a:
      cloud: local-a
      status: ok
      changed: true
      planned: {create: [web-02], start: [], stop: [], remove: [], keep: [web-01]}
      done: {create: [web-02], start: [], stop: [], remove: []}
      adopted: []
      duplicates_removed: []
      security_groups: {slipway_managed: {changed: false, before: [], after: []}}
      seconds: 1.9
    aws-eu:
      cloud: aws-eu
      status: failed
      error: {msg: "...", details: {}}
"""

from ansible_collections.slipway.cloud.plugins.module_utils.engine import deploy, planning
from ansible_collections.slipway.cloud.plugins.module_utils.module_base import CREDENTIALS_ARGUMENT_SPEC, SlipwayModule
from ansible_collections.slipway.cloud.plugins.module_utils.names import TASK_ID_OPTIONS, check_options

# Ships every provider adapter with the module (see providers/families.py).
from ansible_collections.slipway.cloud.plugins.module_utils.providers import families  # noqa: F401 pylint: disable=unused-import


def argument_spec():
    spec = dict(
        name=dict(type="str"),
        names=dict(type="list", elements="str"),
        count=dict(type="int"),
        name_pattern=dict(type="str"),
        image=dict(type="str"),
        cloud=dict(type="str"),
        clouds=dict(type="list", elements="str"),
        size=dict(type="dict", options=dict(cpu=dict(type="float"), ram_gb=dict(type="float"),
                                            flavor=dict(type="str"))),
        security_groups=dict(type="list", elements="str"),
        ssh_public_key=dict(type="str"),
        ssh_public_key_file=dict(type="path"),
        state=dict(type="str", default="present", choices=["present", "absent", "running", "stopped"]),
        wait=dict(type="str", default="ssh", choices=["running", "ssh"]),
        timeout=dict(type="int", default=600),
        tags=dict(type="dict"),
        deployment=dict(type="str"),
        exact=dict(type="bool", default=False),
    )
    spec.update(CREDENTIALS_ARGUMENT_SPEC)
    return spec


#: shared with the action plugin, which validates the same way when it runs the engine itself
MODULE_RULES = dict(
    mutually_exclusive=[("name", "names", "count"), ("cloud", "clouds"), ("ssh_public_key", "ssh_public_key_file")],
    required_one_of=[("cloud", "clouds")],
)


def main():
    module = SlipwayModule(argument_spec=argument_spec(), supports_check_mode=True, **MODULE_RULES)
    module.run(execute)


def execute(module):
    params = module.params
    check_options(params, TASK_ID_OPTIONS)
    catalog = module.load_catalog()
    names = planning.expand_names(params["name"], params["names"], params["count"], params["name_pattern"],
                                  default_prefix=params["deployment"] or params["image"])
    size = {k: v for k, v in (params["size"] or {}).items() if v is not None} or None
    request = deploy.DeployRequest(
        clouds=planning.clouds_from(params["cloud"], params["clouds"]), image=params["image"], names=names, state=params["state"],
        size=size, security_groups=params["security_groups"],
        ssh_public_key=planning.read_public_key(params["ssh_public_key"], params["ssh_public_key_file"]),
        wait=params["wait"], timeout=params["timeout"], tags=params["tags"], deployment=params["deployment"],
        exact=params["exact"], check_mode=module.check_mode)
    result = deploy.converge_instances(catalog, request, environ=getattr(module, "environ", None))
    for warning in result.warnings:
        module.warn(warning)
    output = dict(changed=result.changed, instances=result.instances, removed=result.removed,
                  clouds=result.clouds)
    if module._diff:
        output["diff"] = result.diff
    if result.failed_clouds:
        module.fail_json(msg=result.message(), failed_clouds=result.failed_clouds, **output)
    return output


if __name__ == "__main__":
    main()

"""The policy pack: every rule of mlops_policies, mandatory."""

from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy

import mlops_policies

PolicyPack(
    name="mlops-stack",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        ResourceValidationPolicy(name=rule.name, description=rule.description, validate=rule.validate)
        for rule in mlops_policies.POLICIES
    ],
)

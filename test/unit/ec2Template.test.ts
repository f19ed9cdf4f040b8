// The cluster stack template and the pure parts of the stack driver: where the template is found,
// how a node id becomes a logical id, and how a failed resource's reason becomes a category.
import { readFileSync } from 'node:fs';
import type { ResourceStatus, StackEvent } from '@aws-sdk/client-cloudformation';
import { classifyReason, describeEvent, failedResource, logicalIdOf, stackNameOf, templateFor, templatePath } from '../../src/providers/ec2/stack';

interface InstanceShape {
  Type: string;
  Properties: { Tags: { Key: string; Value: unknown }[]; NetworkInterfaces: Record<string, unknown>[] };
}

interface TemplateShape {
  Transform: string;
  Parameters: Record<string, { Type: string }>;
  Resources: Record<string, [string, unknown, Record<string, InstanceShape>]>;
}

const instanceOf = (template: TemplateShape): InstanceShape => template.Resources['Fn::ForEach::Nodes'][2]['Node&{NodeId}'];

const loadTemplate = (): TemplateShape => JSON.parse(readFileSync(templatePath(), 'utf8')) as TemplateShape;

describe('the cluster stack template', () => {
  test('is found from the sources and loops one instance per node id', () => {
    expect(templatePath()).toMatch(/templates[\\/]ec2-cluster\.json$/);
    const template = loadTemplate();
    expect(template.Transform).toBe('AWS::LanguageExtensions');
    expect(template.Parameters.NodeIds.Type).toBe('CommaDelimitedList');
    expect(template.Parameters.SecurityGroupIds.Type).toBe('CommaDelimitedList');
    const [identifier, collection, fragment] = template.Resources['Fn::ForEach::Nodes'];
    expect(identifier).toBe('NodeId');
    expect(collection).toEqual({ Ref: 'NodeIds' });
    expect(Object.keys(fragment)).toEqual(['Node&{NodeId}']);
    const instance = fragment['Node&{NodeId}'];
    expect(instance.Type).toBe('AWS::EC2::Instance');
    const tags = Object.fromEntries(instance.Properties.Tags.map((tag) => [tag.Key, tag.Value]));
    expect(tags['metascheduler:node']).toEqual({ Ref: 'NodeId' });
    expect(tags['metascheduler:cluster']).toEqual({ Ref: 'ClusterId' });
    expect(tags['metascheduler:gateway']).toEqual({ Ref: 'GatewayId' });
    expect(instance.Properties.NetworkInterfaces[0]).toMatchObject({
      AssociatePublicIpAddress: { Ref: 'AssociatePublicIp' }, SubnetId: { Ref: 'SubnetId' }, GroupSet: { Ref: 'SecurityGroupIds' },
    });
  });

  test('a subnet or security groups left to AWS drop their parameter and the properties that only refer to it', () => {
    const full = templateFor({ subnetIds: ['subnet-0a1b2c3d'], securityGroupIds: ['sg-0a1b2c3d'] });
    expect(full.parameterNames).toEqual(expect.arrayContaining(['SubnetId', 'SecurityGroupIds', 'NodeIds', 'AssociatePublicIp']));
    expect(JSON.parse(full.body)).toEqual(loadTemplate());

    const bare = templateFor({ subnetIds: [], securityGroupIds: [] });
    expect(bare.parameterNames).not.toContain('SubnetId');
    expect(bare.parameterNames).not.toContain('SecurityGroupIds');
    expect(bare.parameterNames).toHaveLength(full.parameterNames.length - 2);
    const networkInterface = instanceOf(JSON.parse(bare.body) as TemplateShape).Properties.NetworkInterfaces[0];
    expect(networkInterface).toEqual({ DeviceIndex: '0', AssociatePublicIpAddress: { Ref: 'AssociatePublicIp' }, DeleteOnTermination: true });

    const groupsOnly = JSON.parse(templateFor({ subnetIds: [], securityGroupIds: ['sg-0a1b2c3d'] }).body) as TemplateShape;
    expect(instanceOf(groupsOnly).Properties.NetworkInterfaces[0]).toHaveProperty('GroupSet');
    expect(instanceOf(groupsOnly).Properties.NetworkInterfaces[0]).not.toHaveProperty('SubnetId');
  });

  test('every parameter the template references is declared', () => {
    const text = readFileSync(templatePath(), 'utf8');
    const template = loadTemplate();
    const referenced = new Set([...text.matchAll(/"Ref": "([A-Za-z:]+)"/g)].map((m) => m[1]));
    for (const name of referenced) {
      if (name === 'NodeId' || name.startsWith('AWS::')) continue;
      expect(Object.keys(template.Parameters)).toContain(name);
    }
  });
});

describe('stack names and logical ids', () => {
  test('a node id keeps its letters and digits, as &{NodeId} does', () => {
    expect(logicalIdOf('3f2a9c1e-0b7d-4e2f-9a1b-2c3d4e5f6a7b')).toBe('Node3f2a9c1e0b7d4e2f9a1b2c3d4e5f6a7b');
    expect(stackNameOf('c-1')).toBe('metascheduler-c-1');
  });
});

describe('failure reasons', () => {
  test('an AWS code inside the reason decides the category', () => {
    expect(classifyReason('Resource handler returned message: "Server.InsufficientInstanceCapacity: no t3.micro left"', 'transient'))
      .toEqual({ category: 'capacity', code: 'InsufficientInstanceCapacity' });
    expect(classifyReason('VcpuLimitExceeded: You have requested more vCPU capacity than your current vCPU limit', 'transient'))
      .toEqual({ category: 'quota', code: 'VcpuLimitExceeded' });
    expect(classifyReason('The image id \'[ami-0]\' does not exist (InvalidAMIID.NotFound)', 'transient').category).toBe('bad_request');
    expect(classifyReason('You are not authorized to perform this operation. UnauthorizedOperation', 'transient').category).toBe('auth');
  });

  test('without a code, the words decide; without either, the fallback', () => {
    expect(classifyReason('We currently do not have sufficient m5.large capacity in the Availability Zone you requested', 'transient').category)
      .toBe('capacity');
    expect(classifyReason('Rate exceeded', 'bad_request').category).toBe('throttled');
    expect(classifyReason('Something odd happened', 'transient')).toEqual({ category: 'transient' });
    expect(classifyReason('Something odd happened', 'capacity')).toEqual({ category: 'capacity' });
  });

  test('the resource that failed for its own reason, not one cancelled because of it', () => {
    const event = (logical: string, status: ResourceStatus, reason?: string, type = 'AWS::EC2::Instance'): StackEvent =>
      ({ StackId: 's', StackName: 'n', EventId: `${logical}-${status}`, LogicalResourceId: logical, ResourceType: type, ResourceStatus: status,
        ResourceStatusReason: reason, Timestamp: new Date(0) });
    const events = [
      event('n', 'CREATE_IN_PROGRESS', 'User Initiated', 'AWS::CloudFormation::Stack'),
      event('NodeA', 'CREATE_FAILED', 'Resource creation cancelled'),
      event('NodeB', 'CREATE_FAILED', 'InsufficientInstanceCapacity'),
      event('n', 'ROLLBACK_IN_PROGRESS', 'The following resource(s) failed to create: [NodeB]', 'AWS::CloudFormation::Stack'),
    ];
    expect(failedResource(events)?.LogicalResourceId).toBe('NodeB');
    expect(failedResource(events.slice(0, 2))?.LogicalResourceId).toBe('NodeA');
    expect(failedResource([events[0], events[3]])).toBeUndefined();
    expect(describeEvent(events[2])).toBe('NodeB CREATE_FAILED: InsufficientInstanceCapacity');
  });
});

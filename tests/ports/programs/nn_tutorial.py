# ruff: noqa: UP004, UP008, UP015, UP032  (written in the classic examples' style on purpose)
"""The "neural networks" tutorial style: define a LeNet-like net, look at its parameters,
backprop a random gradient, compute a loss, update the weights by hand through .data, then
with an optimizer and a scheduler; hooks on a tensor and on a module watch the training."""

import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


class Net(nn.Module):

    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, input):
        c1 = F.relu(self.conv1(input))
        s2 = F.max_pool2d(c1, (2, 2))
        c3 = F.relu(self.conv2(s2))
        s4 = F.max_pool2d(c3, 2)
        s4 = torch.flatten(s4, 1)
        f5 = F.relu(self.fc1(s4))
        f6 = F.relu(self.fc2(f5))
        output = self.fc3(f6)
        return output


parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=30)
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

torch.manual_seed(args.seed)
net = Net()
print(net)

params = list(net.parameters())
print(len(params))
print(params[0].size())  # conv1's .weight

input = torch.randn(1, 1, 32, 32)
out = net(input)
print(out)

net.zero_grad()
out.backward(torch.randn(1, 10))

output = net(input)
target = torch.randn(10)  # a dummy target, for example
target = target.view(1, -1)  # make it the same shape as output
criterion = nn.MSELoss()

loss = criterion(output, target)
print(loss)
print(loss.grad_fn)  # MSELoss

net.zero_grad()     # zeroes the gradient buffers of all parameters
print("conv1.bias.grad before backward")
print(net.conv1.bias.grad)
loss.backward()
print("conv1.bias.grad after backward")
print(net.conv1.bias.grad)

# hooks: the gradient reaching the network's output, and the activations of fc2
grad_norms = []
activations = []
handle = net.fc2.register_forward_hook(lambda m, inp, out: activations.append(out.shape))

# a batch of inputs and targets the net can fit
inputs = torch.randn(8, 1, 32, 32)
proj = torch.randn(10, 32 * 32) / 32.0
targets = torch.mm(inputs.view(8, -1), proj.t()).tanh()

# the simple update rule: weight = weight - learning_rate * gradient
learning_rate = args.lr
for step in range(args.steps):
    net.zero_grad()
    output = net(inputs)
    output.register_hook(lambda g: grad_norms.append(g.norm().item()))
    loss = criterion(output, targets)
    loss.backward()
    for f in net.parameters():
        f.data.sub_(f.grad.data * learning_rate)
    print("manual step {} loss {:.6f}".format(step, loss.item()))
handle.remove()

# the same with an optimizer and a learning-rate schedule
optimizer = optim.SGD(net.parameters(), lr=args.lr, momentum=0.9)
scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
for step in range(args.steps):
    optimizer.zero_grad()   # zero the gradient buffers
    output = net(inputs)
    loss = criterion(output, targets)
    loss.backward()
    optimizer.step()    # Does the update
    scheduler.step()
    print("optim step {} loss {:.6f} lr {:.4f}".format(step, loss.item(),
                                                        scheduler.get_last_lr()[0]))

print("hooks saw {} gradients and {} activations".format(len(grad_norms), len(activations)))
assert len(grad_norms) == args.steps and len(activations) == args.steps
